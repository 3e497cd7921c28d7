"""`make demo` end to end, on the tiny model and one environment."""

import json

from benchmarks import demo


def test_demo_renders_episodes_then_runs_the_quick_benchmark(tmp_path, capsys):
    results = demo.main(
        ["--model", "tiny", "--envs", "TextSentiment-v0", "--budget", "64",
         "--eval-episodes", "1", "--threads", "1", "--out", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "=== TextSentiment-v0: the LM's sampled policy" in out
    assert "prompt:" in out and "quick benchmark" in out
    assert {r["agent"] for r in results} == {"random", "lm-sampled", "ppo"}
    assert (tmp_path / "results.md").read_text().count("| TextSentiment-v0 |") == 3
    assert (tmp_path / "curves_TextSentiment-v0.png").stat().st_size > 1000
    ppo = json.loads((tmp_path / "ppo" / "TextSentiment-v0" / "seed0" / "result.json").read_text())
    assert [e["step"] for e in ppo["evaluations"]][0] == 0
