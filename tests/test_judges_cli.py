"""``deepprune judge pairs|train|eval`` end to end on generated traces (text-feature judge: no MiniLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepprune.cli import main
from deepprune.core.errors import ConfigError
from deepprune.formats import write_traces
from deepprune.judges.pairs import PairDataset
from test_judges_training import synthetic_traces


@pytest.fixture()
def traces_file(tmp_path: Path) -> Path:
    path = tmp_path / "synth.jsonl"
    write_traces(synthetic_traces(24, 5, seed=4), path)
    return path


def test_judge_pairs_train_eval(tmp_path: Path, traces_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    pairs = tmp_path / "pairs.jsonl.gz"
    assert main(["judge", "pairs", str(traces_file), "--out", str(pairs), "--truncate", "tokens:6",
                 "--split", "test"]) == 0
    test_side = PairDataset.load(pairs)
    assert 0 < len(test_side.problems) < 24

    out = tmp_path / "judge"
    assert main(["judge", "train", "--traces", str(traces_file), "--out", str(out), "--truncate", "tokens:6",
                 "--encoder", "none", "--epochs", "10", "--threads", "1"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["truncation"] == "tokens:6" and cfg["test_report"]["auroc"] > 0.9
    assert 0.0 <= cfg["test_report"]["within_auroc"] <= 1.0
    assert not set(cfg["train_problems"]) & set(test_side.problems)

    report = tmp_path / "eval.json"
    plot = tmp_path / "roc.png"
    capsys.readouterr()
    assert main(["judge", "eval", "-j", "lexical", "-j", str(out), "--traces", str(traces_file),
                 "--json", str(report), "--plot", str(plot)]) == 0
    rows = json.loads(report.read_text())
    assert [r["judge"] for r in rows] == ["lexical", str(out)]
    assert rows[1]["truncation"] == "tokens:6"  # the trained judge's rule by default
    assert rows[1]["pairs"] == len(test_side) and rows[1]["auroc"] > 0.9
    assert 0.0 <= rows[1]["within_auroc"] <= 1.0
    assert plot.stat().st_size > 1000
    table = capsys.readouterr().out
    assert "AUROC" in table and "auroc-within" in table

    # the saved pair file gives the same numbers
    assert main(["judge", "eval", "-j", str(out), "--pairs", str(pairs), "--split", "all", "--json", "-"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again[0]["auroc"] == pytest.approx(rows[1]["auroc"])
    assert again[0]["within_auroc"] == pytest.approx(rows[1]["within_auroc"])


def test_judge_eval_refuses_test_problems_seen_in_training(tmp_path: Path, traces_file: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "judge"
    assert main(["judge", "train", "--traces", str(traces_file), "--out", str(out), "--truncate", "tokens:6",
                 "--encoder", "none", "--epochs", "2", "--threads", "1"]) == 0
    from deepprune.cli import build_parser

    with pytest.raises(ConfigError, match="trained on"):  # main() would turn it into exit code 1
        args = build_parser().parse_args(["judge", "eval", "-j", str(out), "--traces", str(traces_file),
                                          "--test-fraction", "0.5", "--seed", "9"])
        args.func(args)
