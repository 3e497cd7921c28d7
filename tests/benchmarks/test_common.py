"""The benchmarks' shared helpers (``benchmarks.common``) on fixed inputs, and the direction
of the imports between the suite and its report."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import common

ROOT = Path(__file__).resolve().parents[2]


def test_markdown_table_spaced_with_alignment_and_compact_without():
    rows = [["ppo", "0.7", "12"], ["a2c", "0.5", "9"]]
    assert common.markdown_table(["agent", "score", "n"], rows, align="lrr") == "\n".join(
        [
            "| agent | score | n |",
            "| --- | ---: | ---: |",
            "| ppo | 0.7 | 12 |",
            "| a2c | 0.5 | 9 |",
        ]
    )
    assert common.markdown_table(["agent", "score"], [["ppo", "0.7"]]) == (
        "| agent | score |\n|---|---|\n| ppo | 0.7 |"
    )
    assert common.markdown_table(["a"], []) == "| a |\n|---|"
    with pytest.raises(ValueError, match="one 'l' or 'r' per column"):
        common.markdown_table(["a", "b"], [], align="l")
    with pytest.raises(ValueError, match="one 'l' or 'r' per column"):
        common.markdown_table(["a", "b"], [], align="lc")


def test_records_table_formats_numbers():
    records = [{"model": "gpt2", "tok_s": 101760.3, "ms": 2.5213, "graph": True, "n": 64}]
    assert common.records_table(records, ["model", "tok_s", "ms", "graph", "n"]) == (
        "| model | tok_s | ms | graph | n |\n|---|---|---|---|---|\n"
        "| gpt2 | 101,760 | 2.52 | True | 64 |"
    )
    assert [common.number_cell(v) for v in (-150.0, 99.96, 0.000612)] == ["-150", "100", "0.000612"]


def test_mean_std_and_its_cell():
    mean, std = common.mean_std([0.2, 0.4, math.nan])
    assert mean == pytest.approx(0.3) and std == pytest.approx(0.1414213562)
    assert common.mean_std_cell(mean, std) == "0.300 ± 0.141"
    assert common.mean_std_cell(mean, std, 1) == "0.3 ± 0.1"
    one = common.mean_std([5.0])
    assert one[0] == 5.0 and math.isnan(one[1])
    assert common.mean_std_cell(*one, 2) == "5.00"
    assert all(math.isnan(v) for v in common.mean_std([math.nan]))
    assert common.mean_std_cell(math.nan, 0.1) == "—"


def test_duration():
    assert [common.duration(s) for s in (0.4, 42.0, 99.4, 100.0, 361.0)] == [
        "0 s",
        "42 s",
        "99 s",
        "1.7 min",
        "6.0 min",
    ]
    assert common.duration(math.nan) == "—"
    assert common.duration(119.0, minutes_from=120, minute_digits=0) == "119 s"
    assert common.duration(3240.0, minutes_from=120, minute_digits=0) == "54 min"


def test_machine_info_and_library_versions():
    info = common.machine_info()
    assert info["processor"] and info["cpu_count"] >= 1 and info["python"].startswith("3.")
    versions = common.library_versions(["pytest", "no_such_module_textgym", "math"])
    assert versions == {
        "pytest": pytest.__version__,
        "no_such_module_textgym": None,  # not installed
        "math": None,  # no __version__
    }


def test_report_does_not_import_the_suite(tmp_path):
    """``benchmarks.suite`` imports ``benchmarks.report`` (to write its summary); the report,
    its command included, must not import the suite back."""
    run = tmp_path / "lm-sampled" / "E-v0" / "seed0"
    run.mkdir(parents=True)
    result = {"agent": "lm-sampled", "env_id": "E-v0", "seed": 0, "kind": "reference"}
    result["config"] = {"model": "tiny", "split": "test"}
    result["evaluations"] = [
        {"step": 0, "mean_metric": 0.1, "mean_return": 0.1, "mean_gen_tokens": 3, "perplexity": 2}
    ]
    (run / "result.json").write_text(json.dumps(result))
    code = (
        "import sys, contextlib, io\n"
        "import benchmarks.report as report\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    report.main([{str(tmp_path)!r}])\n"
        "print(sorted(m for m in sys.modules if m.startswith('benchmarks')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "'benchmarks.report'" in out and "'benchmarks.suite'" not in out, out
