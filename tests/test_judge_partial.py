"""Judge figures count only partial traces: whole or answered prefixes are left out and counted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from deepprune.cli import main
from deepprune.core.types import AnswerKind, Problem, Trace, TraceSet
from deepprune.judges.pairs import PAIRS_FORMAT, PairDataset, build_pairs


def _ts() -> TraceSet:
    p = Problem("p", "q", "4", AnswerKind.INTEGER)
    texts = [
        ("we add the two numbers carefully and then check the sum again " * 3, 40, "4"),  # partial at 8
        ("first we multiply both sides by two and simplify the result " * 3, 40, "4"),    # partial at 8
        (r"so \boxed{4} and we are done, double checking everything once more " * 3, 40, "4"),  # answered
        ("short", 3, "5"),                                                              # whole at 8
    ]
    traces = tuple(Trace("p", i, t, n, a) for i, (t, n, a) in enumerate(texts))
    return TraceSet((p,), {"p": traces}, {}, name="d")


def test_whole_and_answered_prefixes_are_left_out_and_counted() -> None:
    data = build_pairs([_ts()], "tokens:8")
    assert [(int(i), int(j)) for i, j in zip(data.a, data.b, strict=True)] == [(0, 1)]
    bal = data.balance()
    assert (bal.traces, bal.whole_prefixes, bal.excluded) == (4, 2, 5)
    assert bal.whole_share == 0.5
    assert [p.partial for p in data.prefixes] == [True, True, False, False]
    assert data.prefixes[2].answer_visible and data.prefixes[3].complete
    assert "50.0% of 4 traces whole or answered at the cut (5 pairs left out)" in str(bal)


def test_include_whole_keeps_every_pair() -> None:
    data = build_pairs([_ts()], "tokens:8", partial_only=False)
    assert len(data) == 6 and data.excluded == 0 and data.whole_prefixes == 2


def test_a_cut_that_leaves_most_traces_whole_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="deepprune.judges.pairs"):
        data = build_pairs([_ts()], "tokens:100")
    assert len(data) == 0
    assert "leaves 100% of the traces whole" in caplog.text


def test_counts_survive_save_load_and_split(tmp_path: Path) -> None:
    data = build_pairs([_ts()], "tokens:8")
    f = tmp_path / "pairs.jsonl"
    data.save(f)
    back = PairDataset.load(f)
    assert back.cuts == data.cuts and [p.answer_visible for p in back.prefixes] == [False, False, True, False]
    assert back.subset(["d/p"]).excluded == 5 and back.subset([]).excluded == 0


def test_old_pair_files_without_the_new_fields_still_load(tmp_path: Path) -> None:
    f = tmp_path / "old.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"format": PAIRS_FORMAT, "truncation": "tokens:8", "sources": ["d"]},
        {"type": "prefix", "problem": "d/p", "trace_index": 0, "text": "a", "n_tokens": 8, "complete": False},
        {"type": "prefix", "problem": "d/p", "trace_index": 1, "text": "b", "n_tokens": 8, "complete": False},
        {"type": "pair", "a": 0, "b": 1, "label": 1}]) + "\n")
    back = PairDataset.load(f)
    assert len(back) == 1 and back.cuts == () and not back.prefixes[0].answer_visible


def test_judge_pairs_cli_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from deepprune.formats.tracefile import write_traces

    src = tmp_path / "t.jsonl"
    write_traces(_ts(), src)
    assert main(["judge", "pairs", str(src), "--truncate", "tokens:8", "--out", str(tmp_path / "a.jsonl")]) == 0
    assert "1 pairs" in capsys.readouterr().out
    assert main(["judge", "pairs", str(src), "--truncate", "tokens:8", "--include-whole",
                 "--out", str(tmp_path / "b.jsonl")]) == 0
    assert "6 pairs" in capsys.readouterr().out
