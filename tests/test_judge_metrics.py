"""AUROC within problems: the metric, the judge report, the sweep points, and older JSON files."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from deepprune.core.errors import UndefinedMetricWarning
from deepprune.engine.judge_sweep import SweepPoint
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.judges.lexical import LexicalJudge
from deepprune.judges.metrics import JudgeReport, auroc, evaluate_judge, within_problem_auroc
from deepprune.judges.pairs import build_pairs
from deepprune.report import judge_table, markdown_sweep

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def _brute_force(y: np.ndarray, s: np.ndarray, g: np.ndarray) -> float:
    """Every (positive, negative) comparison inside one problem, one at a time."""
    wins = comparisons = 0.0
    for i, j in itertools.product(range(len(y)), repeat=2):
        if g[i] == g[j] and y[i] == 1 and y[j] == 0:
            comparisons += 1
            wins += 1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0
    return wins / comparisons if comparisons else float("nan")


def _problems(rates: list[float], n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs per problem, the first ``rate * n`` of them positive: labels and problem keys."""
    y = np.concatenate([(np.arange(n) < round(r * n)).astype(int) for r in rates])
    g = np.repeat([f"p{i}" for i in range(len(rates))], n)
    return y, g


def test_a_per_problem_constant_score_is_chance_within_problems_but_not_pooled() -> None:
    rates = [0.9, 0.75, 0.5, 0.3, 0.1]
    y, g = _problems(rates)
    share = np.repeat(rates, 40)  # reads no prefix: the problem's share of agreeing pairs
    assert within_problem_auroc(y, share, g) == 0.5
    assert auroc(y, share) > 0.8


def test_offsets_between_problems_hide_a_perfect_judge_from_the_pooled_auroc() -> None:
    y, g = _problems([0.2, 0.8])
    offset = np.where(g == "p0", 0.6, 0.0)  # the mostly-different problem scored higher overall
    s = 0.3 * y + offset
    assert within_problem_auroc(y, s, g) == 1.0
    assert auroc(y, s) < 0.6


@pytest.mark.parametrize("seed", range(6))
def test_matches_a_brute_force_loop_with_ties_and_one_class_problems(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 160))
    g = rng.choice(["a", "b", "c", "d", "e", "f"], size=n)
    y = (rng.random(n) < rng.uniform(0.2, 0.8)).astype(int)
    y[g == "e"] = 1  # one class only: adds nothing
    y[g == "f"] = 0
    s = rng.integers(0, 5, size=n) / 4.0  # few values: many ties, inside and across problems
    assert within_problem_auroc(y, s, g) == pytest.approx(_brute_force(y, s, g), abs=1e-12)


def test_one_problem_equals_the_pooled_auroc_and_integer_groups_work() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, size=300)
    s = np.round(rng.random(300) + 0.3 * y, 1)
    assert within_problem_auroc(y, s, np.zeros(300, dtype=int)) == pytest.approx(auroc(y, s), abs=1e-12)


def test_undefined_and_bad_inputs() -> None:
    with pytest.warns(UndefinedMetricWarning, match="within problems"):
        assert math.isnan(within_problem_auroc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4], ["a", "a", "b", "b"]))
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(within_problem_auroc([], [], []))
    with pytest.raises(ValueError, match="groups"):
        within_problem_auroc([1, 0], [0.1, 0.2], ["a"])
    with pytest.raises(ValueError, match="NaN"):
        within_problem_auroc([1, 0], [float("nan"), 0.2], ["a", "a"])


def test_evaluate_judge_reports_the_auroc_within_problems() -> None:
    data = build_pairs([synthetic_traceset(6, 6, seed=4, mean_tokens=120, no_answer_rate=0.0)], "tokens:16")
    report, scores = evaluate_judge(LexicalJudge(), data, name="lexical")
    want = within_problem_auroc(data.labels, scores, data.pair_problems())
    assert report.within_auroc == pytest.approx(want) and 0.0 <= want <= 1.0
    d = report.to_dict()
    assert d["within_auroc"] == report.within_auroc
    assert list(d).index("within_auroc") == list(d).index("auroc") + 1
    assert JudgeReport.from_dict(json.loads(json.dumps(d))) == report
    head, row = judge_table([report]).splitlines()
    assert head.split()[1:3] == ["AUROC", "auroc-within"]
    assert row.split()[2] == f"{report.within_auroc:.3f}"


_OLD_REPORT = {  # `deepprune judge eval --json` before within_auroc (benchmarks/results/judges_eval_math100_words5.json)
    "judge": "lexical", "dataset": "qwen25_math_instruct_math100_x8", "truncation": "words:5",
    "auroc": 0.6933527413876759, "tnr_at_fnr": 0.34782608695652173, "fnr": 0.2, "pairs": 756,
    "positives": 687, "negatives": 69, "problems": 27, "prefixes": 216, "seconds": 1.19,
    "cpu_seconds": 0.069, "pairs_per_s": 635.4, "traces_per_s": 181.6, "extra": {},
    "command": "deepprune judge eval -j lexical --split test",
}

_OLD_POINT = {  # `deepprune judge sweep --json` before within_auroc and whole_or_answered (sweep_default.json)
    "dataset": "qwen25coder05b_math_gsm8k", "truncation": "tokens:32", "judge": "lexical",
    "prefix_tokens": 32.0, "prefix_share": 0.0923, "finished_before_cut": 0.0, "auroc": 0.5631,
    "tnr_at_fnr": 0.2318, "accuracy": 0.1083, "tokens_per_problem": 4281.7, "reduction": 0.6142,
    "cons_accuracy": 0.225, "cons_tokens_per_problem": 11097.875, "judge_calls_per_problem": 197.6,
    "pairs": 19840, "negatives": 14866, "problems": 40, "orderings": 3, "fold_mean_auroc": None,
}


def test_an_old_judge_report_loads_and_shows_a_dash() -> None:
    report = JudgeReport.from_dict(_OLD_REPORT)
    assert math.isnan(report.within_auroc) and report.auroc == _OLD_REPORT["auroc"]
    head, row = judge_table([report]).splitlines()
    assert row.split()[1:3] == ["0.693", "—"]
    assert head.index("auroc-within") == row.index("—")


def test_an_old_sweep_point_loads_and_shows_dashes() -> None:
    point = SweepPoint.from_dict(_OLD_POINT)
    assert point.within_auroc is None and math.isnan(point.whole_or_answered)
    row = next(line for line in markdown_sweep([point]).splitlines() if line.startswith("| tokens:32"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:9] == ["—", "lexical", "0.563", "—", "0.232"]
    assert SweepPoint.from_dict(point.to_dict()) == point


@pytest.mark.parametrize("name", ["judges_eval_math100_words5.json", "sweep_default.json", "sweep_math100.json"])
def test_the_committed_result_files_still_load(name: str) -> None:
    path = RESULTS / name
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    doc = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(doc, list):
        assert judge_table([JudgeReport.from_dict(r) for r in doc])
    else:
        assert markdown_sweep([SweepPoint.from_dict(p) for p in doc["points"]])


def test_cli_eval_shows_and_writes_the_auroc_within_problems(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from deepprune.cli import main
    from deepprune.formats import write_traces

    src, out = tmp_path / "t.jsonl", tmp_path / "eval.json"
    write_traces(synthetic_traceset(8, 6, seed=5, mean_tokens=120, no_answer_rate=0.0), src)
    assert main(["judge", "eval", "-j", "lexical", "--traces", str(src), "--split", "all",
                 "--truncate", "tokens:16", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    captured = capsys.readouterr()
    assert 0.0 <= row["within_auroc"] <= 1.0 and "auroc-within" in captured.out
    assert f"within problems {row['within_auroc']:.3f}" in captured.err
    assert JudgeReport.from_dict(row).within_auroc == row["within_auroc"]
