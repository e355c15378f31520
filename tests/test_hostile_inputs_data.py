"""Hostile inputs (issue 14): bad data, bad flags and bad output paths fail with a clear message
naming the file, line, field or flag, never a traceback, and nothing is silently dropped or
silently wrong. Each case failed (traceback, silent success or wrong result) before its fix."""

from __future__ import annotations

import gzip
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deepprune.cli import main
from deepprune.core.errors import ConfigError, DataError
from deepprune.formats import tracefile
from deepprune.formats.loaders import load_traces

HEADER = {"format": "deepprune/traces-v1", "model": "m", "token_count": "server"}


def problem(pid: str, gold: str = "1") -> dict[str, Any]:
    return {"type": "problem", "id": pid, "question": "q?", "gold": gold, "kind": "integer"}


def trace(pid: str, index: int, answer: str = "1", n: int = 3, **extra: Any) -> dict[str, Any]:
    return {"type": "trace", "problem_id": pid, "index": index, "text": f"so {answer}", "n_tokens": n,
            "answer": answer, **extra}


def v1_records(n_problems: int = 2, k: int = 4) -> list[dict[str, Any]]:
    recs: list[dict[str, Any]] = [HEADER]
    for p in range(n_problems):
        recs.append(problem(f"p{p}"))
    for p in range(n_problems):
        recs += [trace(f"p{p}", i, "1" if i % 2 == 0 else "2") for i in range(k)]
    return recs


def write_lines(path: Path, recs: list[Any], raw_tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + raw_tail, encoding="utf-8")
    return path


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI; an argparse error counts as exit code 2. Any other exception propagates (a
    traceback is a test failure)."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def bench(path: Path | str, *extra: str) -> list[str]:
    return ["bench", str(path), "-s", "cons", "--no-progress", *extra]


# ------------------------------------------------------------------ 3. duplicates

def test_v1_duplicate_trace_is_rejected_with_file_and_line(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    recs = v1_records(1, 4)
    recs.append(trace("p0", 2, "2"))  # line 7: a copy of index 2
    path = write_lines(tmp_path / "dup.jsonl", recs)
    rc, _, err = cli(bench(path), capsys)
    assert rc == 1
    assert "dup.jsonl:7" in err and "duplicate" in err and "index" in err
    rc, out, err = cli(bench(path, "--on-error", "skip", "--json", "-"), capsys)
    assert rc == 0 and "skipped 1 bad record" in err
    assert json.loads(out)[0]["traces_per_problem"] == 4


def test_v1_duplicate_problem_record_is_rejected(tmp_path: Path) -> None:
    recs = v1_records(1, 2)
    recs.insert(2, problem("p0", gold="7"))  # would silently replace the gold answer
    path = write_lines(tmp_path / "dupp.jsonl", recs)
    with pytest.raises(DataError, match=r"dupp.jsonl:3.*duplicate problem"):
        load_traces(path)


def test_qwen_duplicate_idx_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [{"idx": i, "question": f"q{i}", "gt": "1", "code": ["so 1", "so 1"], "pred": ["1", "1"]}
             for i in range(5)]
    lines.append({"idx": 3, "question": "other", "gt": "2", "code": ["so 1"], "pred": ["1"]})
    path = write_lines(tmp_path / "q.jsonl", lines)
    rc, _, err = cli(bench(path), capsys)
    assert rc == 1 and "q.jsonl:6" in err and "duplicate" in err
    rc, out, err = cli(bench(path, "--on-error", "skip", "--json", "-"), capsys)
    assert rc == 0 and "skipped 1 bad record" in err
    row = json.loads(out)[0]
    assert row["problems"] == 5 and row["accuracy"] == 1.0


def test_judge_pairs_rejects_a_duplicate_trace_and_the_same_file_twice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recs = v1_records(1, 3)
    path = write_lines(tmp_path / "t.jsonl", recs)
    dup = write_lines(tmp_path / "d.jsonl", [*recs, trace("p0", 0, "1")])
    rc, _, err = cli(["judge", "pairs", str(dup), "--out", str(tmp_path / "p.jsonl")], capsys)
    assert rc == 1 and "d.jsonl:6" in err and "duplicate" in err
    rc, _, err = cli(["judge", "pairs", str(path), str(tmp_path / "." / "t.jsonl"), "--out",
                      str(tmp_path / "p.jsonl")], capsys)
    assert rc == 1 and "given twice" in err
    assert not (tmp_path / "p.jsonl").exists()


# ------------------------------------------------------------------ 4. confidences, token counts

@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "-0.5"])
def test_v1_non_finite_or_negative_confidence_is_rejected(tmp_path: Path, bad: str) -> None:
    recs = v1_records(1, 1)
    path = tmp_path / "c.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in recs[:-1])
    text += json.dumps(trace("p0", 0, n=3, confs=[1.0, 2.0, 0.0])).replace("0.0]", f"{bad}]") + "\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"c.jsonl:3, field 'confs'"):
        load_traces(path)


def test_v1_non_finite_logprob_is_rejected(tmp_path: Path) -> None:
    recs = v1_records(1, 1)
    path = tmp_path / "l.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in recs[:-1])
    text += json.dumps(trace("p0", 0, n=2, logprobs=[-1.0, -2.0])).replace("-2.0]", "NaN]") + "\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"l.jsonl:3, field 'logprobs'"):
        load_traces(path)


def deepconf_file(tmp_path: Path, **fields: Any) -> Path:
    t = {"text": "so 1", "confs": [1.0, 2.0, 3.0], "num_tokens": 3, "extracted_answer": "1",
         "stop_reason": "stop"}
    t.update(fields)
    path = tmp_path / "dc.json"
    path.write_text(json.dumps({"question": "q", "ground_truth": "1", "traces": [t, dict(t)]}), encoding="utf-8")
    return path


@pytest.mark.parametrize(("fields", "field"), [
    ({"confs": [1.0, float("nan"), 3.0]}, "confs"),
    ({"confs": [1.0, float("inf"), 3.0]}, "confs"),
    ({"confs": [1.0, -2.0, 3.0]}, "confs"),
    ({"num_tokens": -3, "confs": None}, "num_tokens"),
    ({"num_tokens": 3.9}, "num_tokens"),
    ({"num_tokens": True}, "num_tokens"),
    # 12: fields of the wrong type
    ({"num_tokens": "abc"}, "num_tokens"),
    ({"confs": 7}, "confs"),
    ({"confs": ["x", "y", "z"]}, "confs"),
    ({"token_ids": 5, "num_tokens": None}, "token_ids"),
])
def test_deepconf_bad_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, Any],
                             field: str) -> None:
    if fields.get("num_tokens", 0) is None:
        fields = {k: v for k, v in fields.items() if k != "num_tokens"}
        path = deepconf_file(tmp_path, **fields)
        doc = json.loads(path.read_text())
        for t in doc["traces"]:
            del t["num_tokens"]
        path.write_text(json.dumps(doc))
    else:
        path = deepconf_file(tmp_path, **fields)
    rc, _, err = cli(bench(path, "--format", "deepconf"), capsys)
    assert rc == 1 and "dc.json" in err and f"field {field!r}" in err, err


# ------------------------------------------------------------------ 5. --sweep

@pytest.mark.parametrize(("strategy", "sweep", "words"), [
    ("deepprune", "tau=2", "tau"),
    ("deepprune", "tau=abc", "tau"),
    ("deepprune", "tau=0.5,2", "tau"),
    ("esc", "w=0", "w"),
    ("cons", "nosuch=1,2", "nosuch"),
])
def test_sweep_rejects_invalid_values_and_unknown_keys(capsys: pytest.CaptureFixture[str], strategy: str,
                                                       sweep: str, words: str) -> None:
    rc, _, err = cli(["bench", "default", "-s", strategy, "--sweep", sweep, "--no-progress"], capsys)
    assert rc == 1 and words in err and "Traceback" not in err


def test_sweep_still_skips_strategies_without_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = cli(["bench", "default", "-s", "cons", "-s", "esc", "--sweep", "w=4,8", "--json", "-",
                      "--no-progress"], capsys)
    assert rc == 0
    assert [r["strategy"] for r in json.loads(out)] == ["cons", "esc:w=4", "esc:w=8"]


# ------------------------------------------------------------------ 6. --on-error skip and bad JSON

@pytest.mark.parametrize("tail", ['{"type": "trace", "problem_id": "p0", "ind', "not json at all\n"])
def test_on_error_skip_skips_malformed_and_truncated_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           tail: str) -> None:
    path = write_lines(tmp_path / "killed.jsonl", v1_records(2, 2), raw_tail=tail)
    rc, _, err = cli(bench(path), capsys)
    assert rc == 1 and "killed.jsonl:8" in err and "malformed JSON" in err
    rc, out, err = cli(bench(path, "--on-error", "skip", "--json", "-"), capsys)
    assert rc == 0 and "skipped 1 bad record" in err and "killed.jsonl:8" in err
    assert json.loads(out)[0]["problems"] == 2


def test_on_error_skip_skips_malformed_qwen_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [{"idx": i, "question": f"q{i}", "gt": "1", "code": ["so 1"], "pred": ["1"]} for i in range(3)]
    path = write_lines(tmp_path / "q.jsonl", lines, raw_tail="{broken\n")
    rc, _out, err = cli(bench(path, "--on-error", "skip", "--json", "-"), capsys)
    assert rc == 0 and "skipped 1 bad record" in err and "q.jsonl:4" in err


# ------------------------------------------------------------------ 8. output paths, before the work

@pytest.fixture
def traces(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "in.jsonl", v1_records(3, 4))


def _slow_work_guard(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the replay bench: an output check must fail before any work."""
    import deepprune.cli.bench as cb

    calls: list[int] = []
    real = cb.bench

    def counting(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(cb, "bench", counting)
    return calls


@pytest.mark.parametrize("flag", ["--json", "--markdown", "--plot"])
@pytest.mark.parametrize("kind", ["directory", "unwritable", "extension"])
def test_bench_outputs_are_checked_before_the_work(tmp_path: Path, traces: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, flag: str, kind: str) -> None:
    if kind == "extension" and flag != "--plot":
        pytest.skip("only plots have a required extension")
    if kind == "unwritable" and sys.platform == "win32":
        pytest.skip("chmod does not make a directory read-only on Windows")
    calls = _slow_work_guard(monkeypatch)
    if kind == "directory":
        dest = tmp_path / "adir"
        dest.mkdir()
    elif kind == "unwritable":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        dest = ro / "out.png"
        if os.geteuid() == 0:  # root writes anywhere: make the permission check see what a user would
            real_access = os.access
            monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    else:
        dest = tmp_path / "plot.xyz"
    rc, _, err = cli(bench(traces, flag, str(dest)), capsys)
    assert rc in (1, 2) and flag in err and calls == [], err


@pytest.mark.parametrize("flag", ["--json", "--markdown", "--plot"])
def test_bench_creates_missing_output_directories(tmp_path: Path, traces: Path, capsys: pytest.CaptureFixture[str],
                                                  flag: str) -> None:
    dest = tmp_path / "new" / "deeper" / ("out.png" if flag == "--plot" else "out.txt")
    rc, _, err = cli(bench(traces, flag, str(dest)), capsys)
    assert rc == 0, err
    assert dest.is_file() and dest.stat().st_size > 0


def test_run_json_output_is_checked_before_connecting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "adir"
    d.mkdir()
    rc, _, err = cli(["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--question", "1+1?",
                      "--json", str(d)], capsys)
    assert rc == 1 and "--json" in err and "directory" in err


def test_judge_train_out_is_checked_before_training(tmp_path: Path, traces: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    rc, _, err = cli(["judge", "train", "--traces", str(traces), "--out", str(f), "--encoder", "none",
                      "--epochs", "1"], capsys)
    assert rc == 1 and "--out" in err and "not a directory" in err
    assert f.read_text() == "x"


# ------------------------------------------------------------------ 9. judge pairs X --out X

@pytest.mark.parametrize("same", [
    lambda p: p,
    lambda p: p.parent / "." / p.name,
    lambda p: _symlink(p),
])
def test_judge_pairs_refuses_to_overwrite_its_input(traces: Path, capsys: pytest.CaptureFixture[str],
                                                    same: Callable[[Path], Path]) -> None:
    before = traces.read_bytes()
    rc, _, err = cli(["judge", "pairs", str(traces), "--out", str(same(traces))], capsys)
    assert rc == 1 and "--out" in err and "input" in err
    assert traces.read_bytes() == before


def _symlink(p: Path) -> Path:
    link = p.parent / "link.jsonl"
    link.symlink_to(p)
    return link


# ------------------------------------------------------------------ 12. tracebacks -> clear errors

def test_corrupt_gzip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = gzip.compress("".join(json.dumps(r) + "\n" for r in v1_records(2, 2)).encode())
    bad = good[:12] + bytes(b ^ 0x5A for b in good[12:40]) + good[40:]
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(bad)
    for fmt in ("auto", "v1"):
        rc, _, err = cli(bench(path, "--format", fmt), capsys)
        assert rc == 1 and "c.jsonl.gz" in err, err


def test_deeply_nested_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    path = write_lines(tmp_path / "n.jsonl", v1_records(1, 1), raw_tail=deep + "\n")
    rc, _, err = cli(bench(path), capsys)
    assert rc == 1 and "n.jsonl:4" in err and "nested" in err
    dc = tmp_path / "n.json"
    dc.write_text(deep)
    rc, _, err = cli(bench(dc, "--format", "deepconf"), capsys)
    assert rc == 1 and "n.json" in err
    res = tmp_path / "r.json"
    res.write_text(deep)
    rc, _, err = cli(["leaderboard", str(res), "--markdown", str(tmp_path / "o.md")], capsys)
    assert rc == 1 and "r.json" in err


@pytest.mark.parametrize("fmt", ["v1", "qwen", "deepconf"])
def test_directory_with_explicit_format(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    rc, _, err = cli(bench(tmp_path, "--format", fmt), capsys)
    assert rc == 1 and str(tmp_path) in err and "directory" in err


@pytest.mark.parametrize("content", [None, b"\x89PNG\r\n\x1a\n\xff\xfe\x00garbage"])
def test_judge_eval_pairs_missing_or_binary(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            content: bytes | None) -> None:
    path = tmp_path / "pairs.jsonl"
    if content is not None:
        path.write_bytes(content)
    rc, _, err = cli(["judge", "eval", "-j", "lexical", "--pairs", str(path)], capsys)
    assert rc == 1 and "pairs.jsonl" in err


def test_leaderboard_on_binary_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b"\xff\xfe\x00\x81binary")
    rc, _, err = cli(["leaderboard", str(path), "--markdown", str(tmp_path / "o.md")], capsys)
    assert rc == 1 and "r.json" in err


@pytest.mark.parametrize("argv", [
    ["bench", "default", "--seed", "-5", "--no-progress"],
    ["judge", "pairs", "default", "--out", "OUT", "--max-pairs-per-problem", "-1"],
    ["judge", "pairs", "default", "--out", "OUT", "--seed", "-1"],
])
def test_bad_numeric_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    argv = [str(tmp_path / "o.jsonl") if a == "OUT" else a for a in argv]
    rc, _, err = cli(argv, capsys)
    flag = next(a for a in argv if a.startswith("--") and a not in ("--no-progress", "--out"))
    assert rc in (1, 2) and flag in err


@pytest.mark.timeout(60)
def test_replay_server_busy_port_and_bad_host(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, _, err = cli(["replay-server", "default", "--port", str(port)], capsys)
    assert rc == 1 and str(port) in err and "in use" in err
    rc, _, err = cli(["replay-server", "default", "--host", "no-such-host.invalid", "--port", "0"], capsys)
    assert rc == 1 and "--host" in err


def test_endless_line_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracefile, "MAX_LINE_CHARS", 1 << 16)
    for fmt in ("v1", "qwen", "auto"):
        rc, _, err = cli(bench("/dev/zero", "--format", fmt), capsys)
        assert rc == 1 and "/dev/zero" in err, err


# ------------------------------------------------------------------ 14. empty data, bad budgets and timeouts

def test_empty_dataset_is_an_error_not_nan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_lines(tmp_path / "empty.jsonl", [HEADER])
    rc, out, err = cli(bench(path), capsys)
    assert rc == 1 and "empty.jsonl" in err and "no problems" in err and "nan" not in out
    only_bad = write_lines(tmp_path / "bad.jsonl", [HEADER, {"type": "problem", "id": 1}])
    rc, out, err = cli(bench(only_bad, "--on-error", "skip"), capsys)
    assert rc == 1 and "no problems" in err and "nan" not in out


@pytest.mark.parametrize("argv", [
    ["bench", "default", "--budget", "-1", "--no-progress"],
    ["bench", "default", "--budget", "0", "--no-progress"],
    ["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--question", "q", "--stall-timeout", "0"],
    ["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--question", "q", "--stall-timeout", "-1"],
    ["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--question", "q", "--stall-timeout", "nan"],
    ["collect", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--problems", "default",
     "--out", "OUT", "--n", "2", "--stall-timeout", "0"],
    ["replay-server", "default", "--rate", "nan"],
    ["replay-server", "default", "--rate", "inf"],
    ["replay-server", "default", "--latency", "-1"],
])
def test_bad_budget_timeout_and_rate_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    import deepprune.cli.replay_server as rs

    async def never(*a: Any) -> None:
        raise AssertionError("the server started with a bad flag")

    monkeypatch.setattr(rs, "_serve", never)
    argv = [str(tmp_path / "o.jsonl") if a == "OUT" else a for a in argv]
    rc, _out, err = cli(argv, capsys)
    flag = argv[-2]
    assert rc in (1, 2) and flag in err, err
    assert not (tmp_path / "o.jsonl").exists()


def test_bench_library_rejects_a_non_positive_budget() -> None:
    from deepprune.engine.bench import bench as run_bench
    from deepprune.formats.datasets import resolve

    ts = load_traces(resolve("default"))
    for budget in (0, -1):
        with pytest.raises(ConfigError, match="budget"):
            run_bench([ts], ["cons"], budget=budget)


# ------------------------------------------------------------------ 15, 16. leaderboard

def lb_row(strategy: str = "cons", **kw: Any) -> dict[str, Any]:
    r: dict[str, Any] = {"dataset": "ds", "strategy": strategy, "accuracy": 0.5, "tokens": 1000.0, "problems": 10,
                         "traces_per_problem": 8.0, "orderings": 1, "model": "m", "token_count": "server",
                         "command": "deepprune bench ds"}
    r.update(kw)
    return r


def test_leaderboard_markdown_escapes_html_and_table_breakers(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    res = tmp_path / "r.json"
    res.write_text(json.dumps([
        lb_row("cons", model="<img src=x onerror=alert(1)>", dataset="<script>x</script>",
               token_count="<b>t</b>", command="deepprune `x` <i>"),
        lb_row("a`b|c", model="<img src=x onerror=alert(1)>", dataset="<script>x</script>"),
    ]))
    md = tmp_path / "o.md"
    rc, _, err = cli(["leaderboard", str(res), "--markdown", str(md)], capsys)
    assert rc == 0, err
    text = md.read_text()
    for raw in ("<img", "<script>", "<b>t</b>"):
        assert raw not in text
    assert "<u>50.0%</u>" in text  # our own markup is kept
    assert "1. `` deepprune `x` <i> ``" in text  # in a code span a backtick cannot close: shown, not rendered
    table = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert len(table) == 3  # header and two rows
    n_cells = {len(ln.replace("\\|", "").split("|")) for ln in table}
    assert len(n_cells) == 1, table  # no row has extra columns
    row = next(ln for ln in table if "a`b" in ln)
    assert "`` a`b\\|c ``" in row  # a code span that a backtick cannot close


@pytest.mark.parametrize(("kw", "field"), [
    ({"problems": -3}, "problems"),
    ({"problems": 0}, "problems"),
    ({"accuracy_std": -0.1}, "accuracy_std"),
    ({"tokens_std": -5.0}, "tokens_std"),
    ({"traces_per_problem": 0}, "traces_per_problem"),
    ({"traces_per_problem": -8}, "traces_per_problem"),
    ({"orderings": 0}, "orderings"),
    ({"judge_calls": -1}, "judge_calls"),
    ({"errors": -1}, "errors"),
])
def test_leaderboard_rejects_impossible_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               kw: dict[str, Any], field: str) -> None:
    res = tmp_path / "r.json"
    res.write_text(json.dumps([lb_row(**kw)]))
    rc, _, err = cli(["leaderboard", str(res), "--markdown", str(tmp_path / "o.md")], capsys)
    assert rc == 1 and f"[0].{field}" in err


def test_leaderboard_rejects_an_empty_row_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = tmp_path / "r.json"
    res.write_text("[]")
    rc, _, err = cli(["leaderboard", str(res), "--markdown", str(tmp_path / "o.md")], capsys)
    assert rc == 1 and "r.json" in err and "no rows" in err
    assert not (tmp_path / "o.md").exists()


# ------------------------------------------------------------------ 17. local-server alias

def test_local_server_alias_follows_the_model(tmp_path: Path) -> None:
    from deepprune.servers.local import MODEL_NAME, LocalServer, LocalServerConfig

    def cmd(cfg: LocalServerConfig, model: Path) -> list[str]:
        srv = LocalServer(cfg)
        srv.binary, srv.model_path, srv.port = Path("llama-server"), model, 8080
        return srv.command()

    def alias(c: list[str]) -> str:
        return c[c.index("-a") + 1]

    other = tmp_path / "Llama-3.2-1B-Q4_K_M.gguf"
    assert alias(cmd(LocalServerConfig(), tmp_path / "default.gguf")) == MODEL_NAME
    assert alias(cmd(LocalServerConfig(model_path=str(other)), other)) == "Llama-3.2-1B-Q4_K_M"
    assert alias(cmd(LocalServerConfig(model_path=str(other), alias="llama"), other)) == "llama"
    assert LocalServer(LocalServerConfig(model_path=str(other))).model_name == "Llama-3.2-1B-Q4_K_M"
