"""Trace format round trip, loaders for existing data, and bad input."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import pytest

from deepprune.core.errors import ConfigError, DataError, FormatError
from deepprune.core.types import AnswerKind, Problem, Trace
from deepprune.formats import ReadReport, TraceWriter, load_problems, load_traces, read_traces, write_traces
from deepprune.formats.loaders import detect_format, parse_mapping
from deepprune.formats.synthetic import synthetic_traceset


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    ts = synthetic_traceset(3, 4, with_confs=True, with_tokens=True)
    path = tmp_path / f"t{suffix}"
    write_traces(ts, path)
    back = read_traces(path)
    assert back.problems == ts.problems
    for p in ts.problems:
        a, b = ts.traces_of(p.id), back.traces_of(p.id)
        assert [t.text for t in a] == [t.text for t in b]
        assert [t.tokens for t in a] == [t.tokens for t in b]
        assert all(abs(x - y) < 1e-4 for ta, tb in zip(a, b, strict=True) for x, y in
                   zip(ta.confs or (), tb.confs or (), strict=True))
    assert back.header["format"] == "deepprune/traces-v1"
    assert back.header["token_count"] == "synthetic"


def test_writer_appends_and_repairs_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    p = Problem("p1", "q?", "3", AnswerKind.INTEGER)
    with TraceWriter(path, {"model": "m"}) as w:
        w.add_problem(p)
        w.add_trace(Trace("p1", 0, "a \\boxed{3}", 4, "3"))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"type": "trace", "problem_id": "p1", "ind')  # killed mid-write
    with TraceWriter(path, {"model": "m"}) as w:
        assert w.existing.n_traces == 1
        w.add_problem(p)  # already there: not written twice
        w.add_trace(Trace("p1", 1, "b \\boxed{4}", 5, "4"))
    ts = read_traces(path)
    assert [t.index for t in ts.traces_of("p1")] == [0, 1]
    assert len(ts.problems) == 1


def test_qwen_loader(math100_path: Path) -> None:
    ts = load_traces(math100_path)
    assert detect_format(math100_path) == "qwen"
    assert len(ts.problems) == 100 and ts.n_traces == 800
    assert ts.header["token_count"] == "approx:regex-v1"
    first = ts.traces_of(ts.problems[0].id)[0]
    assert first.answer == "420" and first.n_tokens > 50
    assert ts.problems[0].gold == "420"


def test_benchmark_loaders(benchmarks_dir: Path) -> None:
    expected = {
        "aime2024.jsonl": (30, AnswerKind.INTEGER),
        "aime2025.jsonl": (30, AnswerKind.INTEGER),
        "hmmt_feb_2025.jsonl": (30, AnswerKind.MATH),
        "brumo_2025.jsonl": (30, AnswerKind.MATH),
        "amc23.jsonl": (40, AnswerKind.MATH),
        "math500.jsonl": (500, AnswerKind.MATH),
        "gsm8k_test.jsonl": (1319, AnswerKind.INTEGER),
        "gpqa_diamond.jsonl": (198, AnswerKind.CHOICE),
    }
    for name, (n, kind) in expected.items():
        probs = load_problems(benchmarks_dir / name)
        assert len(probs) == n, name
        assert all(p.kind is kind for p in probs), name
        assert len({p.id for p in probs}) == n
    gsm = load_problems(benchmarks_dir / "gsm8k_test.jsonl")
    assert gsm[0].gold == "18"
    math500 = load_problems(benchmarks_dir / "math500.jsonl")
    assert not math500[0].question.startswith("Return your final response")
    gpqa = load_problems(benchmarks_dir / "gpqa_diamond.jsonl")
    assert all(p.gold in "ABCD" for p in gpqa)


def _deepconf_traces() -> list[dict[str, object]]:
    return [
        {"text": "so \\boxed{5}", "token_ids": [1, 2, 3], "confs": [1.0, 2.0, 3.0], "extracted_answer": "5",
         "stop_reason": "stop"},
        {"text": "hmm \\boxed{6}", "num_tokens": 2, "confs": [0.5, 0.7], "extracted_answer": "6",
         "stop_reason": "length"},
    ]


@pytest.mark.parametrize("shape", ["list", "batch", "pickle"])
def test_deepconf_loader(tmp_path: Path, shape: str) -> None:
    traces = _deepconf_traces()
    if shape == "list":
        path = tmp_path / "q1.json"
        path.write_text(json.dumps(traces))
    elif shape == "batch":
        path = tmp_path / "q1.json"
        path.write_text(json.dumps({"question": "Q?", "ground_truth": "5", "traces": traces}))
    else:
        path = tmp_path / "q1.pkl"
        path.write_bytes(pickle.dumps({"traces": traces, "ground_truth": "5"}))
    ts = load_traces(path)
    (trs,) = ts.traces.values()
    assert [t.n_tokens for t in trs] == [3, 2]
    assert trs[0].confs == (1.0, 2.0, 3.0)
    assert [t.answer for t in trs] == ["5", "6"]
    assert str(trs[1].finish_reason) == "length"
    assert ts.header["token_count"] == "server"


def test_generic_loader(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    rows = [
        {"qid": "a", "prompt": "1+1?", "gt": "2", "resp": ["so \\boxed{2}", "thus \\boxed{3}"], "len": [10, 12]},
        {"qid": "b", "prompt": "2+2?", "gt": "4", "resp": ["\\boxed{4}"], "len": [5]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    mapping = parse_mapping("problem_id=qid,question=prompt,gold=gt,text=resp,n_tokens=len")
    ts = load_traces(path, "generic", mapping=mapping)
    assert [p.id for p in ts.problems] == ["a", "b"]
    assert [t.answer for t in ts.traces_of("a")] == ["2", "3"]
    assert [t.n_tokens for t in ts.traces_of("a")] == [10, 12]
    with pytest.raises(ConfigError, match="--map field"):
        parse_mapping("bogus=x")
    with pytest.raises(ConfigError, match="problem_id"):
        load_traces(path, "generic", mapping={"text": "resp"})


# ------------------------------------------------------------------ bad input
def _v1(tmp_path: Path, lines: list[str], name: str = "bad.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


HEADER = json.dumps({"format": "deepprune/traces-v1", "model": "m"})
PROBLEM = json.dumps({"type": "problem", "id": "p", "question": "q", "gold": "1"})


def _trace(**over: object) -> str:
    rec = {"type": "trace", "problem_id": "p", "index": 0, "text": "\\boxed{1}", "n_tokens": 3, "answer": "1"}
    rec.update(over)
    return json.dumps({k: v for k, v in rec.items() if v is not ...})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([HEADER, PROBLEM, "{not json"], r"bad\.jsonl:3: malformed JSON"),
        ([HEADER, PROBLEM, _trace(text=...)], r"bad\.jsonl:3, field 'text': missing field"),
        ([HEADER, PROBLEM, _trace(n_tokens="7")], r"bad\.jsonl:3, field 'n_tokens': expected int, got str"),
        ([HEADER, PROBLEM, _trace(answer=...)], r"field 'answer': missing field \(use null"),
        ([HEADER, PROBLEM, _trace(problem_id="zz")], r"unknown problem 'zz'"),
        ([HEADER, PROBLEM, _trace(confs=[1.0])], r"bad\.jsonl:3: .*confs has 1 entries"),
        ([HEADER, PROBLEM, json.dumps({"type": "widget"})], r"field 'type': unknown record type"),
        ([HEADER, json.dumps({"type": "problem", "id": "p", "question": "q", "kind": "essay"})],
         r"field 'kind': unknown answer kind"),
    ],
)
def test_bad_records_name_file_line_field(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_traces(_v1(tmp_path, lines))


def test_bad_records_skip_is_counted(tmp_path: Path) -> None:
    path = _v1(tmp_path, [HEADER, PROBLEM, "{oops", _trace(), _trace(index="x")])
    with pytest.raises(DataError):
        read_traces(path)
    # with "skip", bad records (and malformed lines, see test_hostile_inputs_data) are skipped and counted
    path = _v1(tmp_path, [HEADER, PROBLEM, _trace(), _trace(index="x"), _trace(index=1, text=5)], "skip.jsonl")
    report = ReadReport()
    ts = read_traces(path, on_error="skip", report=report)
    assert ts.n_traces == 1
    assert len(report.skipped) == 2
    assert "skip.jsonl:4" in report.skipped[0] and "skip.jsonl:5" in report.skipped[1]


def test_trace_without_answer_is_kept_as_none(tmp_path: Path) -> None:
    ts = read_traces(_v1(tmp_path, [HEADER, PROBLEM, _trace(answer=None)]))
    assert ts.traces_of("p")[0].answer is None


def test_unknown_format_and_version(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="unsupported format 'deepprune/traces-v9'"):
        read_traces(_v1(tmp_path, [json.dumps({"format": "deepprune/traces-v9"})]))
    weird = _v1(tmp_path, [json.dumps({"foo": 1})], "weird.jsonl")
    with pytest.raises(FormatError, match=r"cannot tell the format.*--format"):
        load_traces(weird)
    with pytest.raises(ConfigError, match="format must be one of"):
        load_traces(weird, "xml")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.jsonl: empty file"):
        load_traces(empty)
    with pytest.raises(DataError, match="file not found"):
        load_traces(tmp_path / "nope.jsonl")
    gz = tmp_path / "empty.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("")
    with pytest.raises(DataError, match="empty"):
        read_traces(gz)


def test_qwen_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    good = {"idx": 0, "question": "q", "gt": "1", "code": ["\\boxed{1}"], "pred": ["1"]}
    rows = [good, {"idx": 1, "question": "q", "gt": "1", "code": [], "pred": []},
            {"idx": 2, "question": "q", "code": ["a", "b"], "pred": ["1"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError, match=r"q\.jsonl:2, field 'code': problem has no traces"):
        load_traces(path, "qwen")
    report = ReadReport()
    ts = load_traces(path, "qwen", on_error="skip", report=report)
    assert len(ts.problems) == 1
    assert len(report.skipped) == 2 and "q.jsonl:3, field 'pred'" in report.skipped[1]


def test_benchmark_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "gsm8k_mine.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "no final number"}) + "\n")
    with pytest.raises(DataError, match=r"gsm8k_mine\.jsonl:1, field 'answer': GSM8K answer has no '####'"):
        load_problems(path)
    path2 = tmp_path / "x.jsonl"
    path2.write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(DataError, match="field 'answer': missing field"):
        load_problems(path2)
