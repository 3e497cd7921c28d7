"""`python -m benchmarks.ppo_group_by_length` on the tiny model: grouping computes no more
tokens than random minibatches, and the JSON has what the table shows."""

import json

from benchmarks import ppo_group_by_length


def test_grouping_computes_fewer_tokens_on_dialogue(tmp_path, capsys):
    result = ppo_group_by_length.main(
        ["--model", "tiny", "--batch-size", "8", "--minibatch-size", "2",
         "--max-new-tokens", "4", "--device", "cpu", "--out", str(tmp_path)]
    )  # fmt: skip
    assert json.loads((tmp_path / "results.json").read_text()) == result
    assert result["sequences"] > 8  # several turns per dialogue episode
    plain, grouped = result["rows"]
    assert not plain["group_by_length"] and grouped["group_by_length"]
    assert 0 < grouped["tokens"] <= plain["tokens"]
    assert "| True |" in capsys.readouterr().out
