"""Issue 14, high items: a pickle never runs code; ``--out`` never damages a file that is not ours."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from deepprune.cli import main
from deepprune.core.errors import ConfigError, DataError, FormatError
from deepprune.engine.liverun import ResultsFile, RunSettings
from deepprune.formats.appendlog import prepare_append
from deepprune.formats.loaders import load_traces
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.formats.tracefile import TraceWriter, read_traces, write_traces
from deepprune.servers.replay import ReplayServer, ServerConfig

TS = synthetic_traceset(3, 4, seed=5, mean_tokens=20, with_confs=True)


# ------------------------------------------------------------------ 1. pickles run no code
class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _evil_pickle(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    path = tmp_path / "traces.pkl"
    path.write_bytes(pickle.dumps({"traces": [{"text": "x", "num_tokens": 1, "extra": _Payload(marker)}]}))
    return path, marker


def test_pickle_payload_is_refused_and_does_not_run(tmp_path: Path) -> None:
    path, marker = _evil_pickle(tmp_path)
    with pytest.raises(DataError, match=r"refers to (posix|os)\.system"):
        load_traces(path)
    assert not marker.exists(), "the pickle's payload ran"


@pytest.mark.parametrize("command", [
    ["bench", "{path}", "-s", "cons"],
    ["judge", "pairs", "{path}", "--out", "{tmp}/pairs.jsonl"],
    ["replay-server", "{path}", "--port", "0"],
])
def test_pickle_payload_refused_by_every_command(tmp_path: Path, command: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path, marker = _evil_pickle(tmp_path)
    argv = [a.format(path=path, tmp=tmp_path) for a in command]
    assert main(argv) != 0
    assert not marker.exists(), "the pickle's payload ran"
    assert "system" in capsys.readouterr().err


def test_plain_data_pickle_with_numpy_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "q7.pkl"
    traces = [{"text": r"so \boxed{5}", "num_tokens": 3, "confs": np.array([1.0, 2.0, 3.0]),
               "extracted_answer": "5", "stop_reason": "stop"},
              {"text": r"\boxed{4}", "num_tokens": np.int64(2), "confs": [np.float64(0.5), 1.5],
               "extracted_answer": "4", "stop_reason": "length"}]
    path.write_bytes(pickle.dumps({"traces": traces, "ground_truth": "5"}))
    ts = load_traces(path)
    got = ts.traces_of("q7")
    assert [t.n_tokens for t in got] == [3, 2]
    assert got[0].confs == (1.0, 2.0, 3.0) and ts.problems[0].gold == "5"


# ------------------------------------------------------------------ 2. --out never damages others' files
def _settings() -> RunSettings:
    return RunSettings(strategy="cons", budget=4, model="m")


def _unterminated_trace_file(tmp_path: Path) -> Path:
    src = tmp_path / "traces.jsonl"
    write_traces(TS, src)
    f = tmp_path / "f.jsonl"
    f.write_bytes(src.read_bytes()[:-1])  # head -c -1
    return f


def test_run_out_refuses_a_trace_file_unchanged(tmp_path: Path) -> None:
    f = _unterminated_trace_file(tmp_path)
    before = f.read_bytes()
    with pytest.raises(FormatError, match="not a deepprune run results file"):
        ResultsFile(f, _settings())
    assert f.read_bytes() == before


@pytest.mark.parametrize("content", [b"some notes\nlast line without newline",
                                     b"not json at all",
                                     b'{"format": "deepprune/run-v1"',  # a torn header
                                     b"[1, 2]\n{\"x\": 1}"])
def test_out_refuses_foreign_files_unchanged(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "notes.jsonl"
    f.write_bytes(content)
    with pytest.raises(FormatError):
        ResultsFile(f, _settings())
    with pytest.raises(FormatError):
        TraceWriter(f, {"model": "m"})
    assert f.read_bytes() == content


def test_run_out_refuses_another_runs_file_unchanged(tmp_path: Path) -> None:
    f = tmp_path / "other.jsonl"
    with ResultsFile(f, RunSettings(strategy="esc", budget=4, model="m")):
        pass
    f.write_bytes(f.read_bytes() + b'{"problem_id": "p0", "answer": "1"')  # a torn record of that run
    before = f.read_bytes()
    with pytest.raises(ConfigError, match="same settings"):
        ResultsFile(f, _settings())
    assert f.read_bytes() == before


def test_collect_out_refuses_other_settings_unchanged(tmp_path: Path) -> None:
    f = _unterminated_trace_file(tmp_path)
    before = f.read_bytes()

    def refuse(found: object) -> None:
        raise DataError("different settings", path=f)

    with pytest.raises(DataError, match="different settings"):
        TraceWriter(f, {"model": "m"}, check_header=refuse)
    assert f.read_bytes() == before


def test_collect_out_keeps_a_complete_unterminated_record(tmp_path: Path) -> None:
    f = _unterminated_trace_file(tmp_path)
    n_before = sum(len(v) for v in TS.traces.values())
    with TraceWriter(f, {"model": "m"}) as w:
        assert sum(len(v) for v in w.existing.traces.values()) == n_before
    ts = read_traces(f)
    assert sum(len(v) for v in ts.traces.values()) == n_before


def test_torn_record_of_our_own_file_is_dropped_with_a_warning(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "mine.jsonl"
    write_traces(TS, f)
    whole = f.read_bytes()
    f.write_bytes(whole + b'{"type": "trace", "problem_id": "p0", "ind')
    prepare_append(f, lambda header: None)
    assert f.read_bytes() == whole
    assert "dropped a partial last line" in caplog.text


def test_run_cli_out_refuses_a_trace_file_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traces = tmp_path / "t.jsonl"
    write_traces(TS, traces)
    f = _unterminated_trace_file(tmp_path)
    before = f.read_bytes()
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as srv:
        code = main(["run", "--base-url", srv.base_url, "--model", "m", "--problems", str(traces), "--n", "4",
                     "--out", str(f), "--max-tokens", "4096"])
    assert code != 0
    assert "not a deepprune run results file" in capsys.readouterr().err
    assert f.read_bytes() == before


def test_collect_cli_out_refuses_a_results_file_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "results.jsonl"
    with ResultsFile(f, _settings()):
        pass
    f.write_bytes(f.read_bytes() + json.dumps({"problem_id": "p"}).encode())  # last line without newline
    before = f.read_bytes()
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps({"question": p.question, "answer": p.gold}) + "\n" for p in TS.problems))
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as srv:
        code = main(["collect", "--base-url", srv.base_url, "--model", "m", "--problems", str(problems),
                     "--n", "2", "--out", str(f), "--max-tokens", "4096"])
    assert code != 0
    assert "not a deepprune/traces-v1 trace file" in capsys.readouterr().err
    assert f.read_bytes() == before


# ------------------------------------------------------------------ 12. endless input, DeepConf JSON
def test_deepconf_format_on_an_endless_device_is_refused_at_once() -> None:
    with pytest.raises(DataError, match="not a JSON document"):
        load_traces("/dev/zero", "deepconf")


def test_deepconf_document_size_is_bounded(tmp_path: Path) -> None:
    from deepprune.formats.loaders import _read_json_document

    f = tmp_path / "big.json"
    f.write_text("[" + " " * 5000 + "]")
    with pytest.raises(DataError, match="larger than 1000"):
        _read_json_document(f, limit=1000)
    assert _read_json_document(f).strip().startswith("[")
