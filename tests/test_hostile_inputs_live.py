"""Issue 14, hostile inputs on the live side: failed problems and resume (item 7), secrets (item
10), long traces in replay (item 11), the replay server's malformed requests, timeouts and
``top_logprobs`` cap (item 13). Each test failed before its fix."""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from deepprune.cli import main
from deepprune.core.types import AnswerKind, FinishReason, Problem, Trace, TraceSet
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.formats.tracefile import write_traces
from deepprune.servers.replay import Fault, ReplayServer, ServerConfig

TS = synthetic_traceset(3, 8, seed=11, mean_tokens=30, with_confs=True)


# ----------------------------------------------------------------------------- item 13: replay server
async def _raw(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send ``data`` on a raw connection; what the server answered before closing (or ``wait`` s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), wait)
    except TimeoutError:
        return b"<no answer, connection still open>"
    finally:
        writer.close()


def _serve_raw(data: bytes, caplog: pytest.LogCaptureFixture, **cfg: Any) -> bytes:
    async def main() -> bytes:
        async with ReplayServer(TS, ServerConfig(rate=0, **cfg)) as srv:
            return await _raw(srv.port, data)
    with caplog.at_level(logging.DEBUG):
        return asyncio.run(main())


@pytest.mark.parametrize("head, body", [
    (b"Content-Length: -5\r\n", b""),
    (b"Content-Length: +5\r\n", b"{}   "),
    (b"Content-Length: 4\r\n", b"\xff\xfe{}"),
])
def test_replay_server_bad_length_or_body_is_a_400(head: bytes, body: bytes,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Content-Type: application/json\r\n" + head)
    answer = _serve_raw(req + b"\r\n" + body, caplog)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


def test_replay_server_times_out_idle_and_half_sent_connections(caplog: pytest.LogCaptureFixture) -> None:
    assert ServerConfig().idle_timeout_s > 0 and ServerConfig().request_timeout_s > 0
    # idle: a connection that sends nothing is closed without an answer
    assert _serve_raw(b"", caplog, idle_timeout_s=0.3, request_timeout_s=0.3) == b""
    # half-sent head: 408 and closed
    answer = _serve_raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n", caplog,
                        idle_timeout_s=0.3, request_timeout_s=0.3)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    # half-sent body
    answer = _serve_raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"", caplog,
                        idle_timeout_s=0.3, request_timeout_s=0.3)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    with pytest.raises(ValueError, match="idle_timeout_s"):
        ServerConfig(idle_timeout_s=0)
    with pytest.raises(ValueError, match="request_timeout_s"):
        ServerConfig(request_timeout_s=float("nan"))


@pytest.mark.parametrize("chat", [True, False])
def test_replay_server_caps_top_logprobs_at_20(chat: bool) -> None:
    import httpx

    p = TS.problems[0]

    async def main() -> list[httpx.Response]:
        async with ReplayServer(TS, ServerConfig(rate=0)) as srv, \
                httpx.AsyncClient(base_url=srv.base_url + "/", timeout=10) as c:
            out = []
            for k in (20, 21, 150_000):
                if chat:
                    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": p.question}],
                                            "logprobs": True, "top_logprobs": k, "max_tokens": 2}
                    out.append(await c.post("chat/completions", json=body))
                else:
                    out.append(await c.post("completions", json={"model": "m", "prompt": p.question,
                                                                 "logprobs": k, "max_tokens": 2}))
            return out

    ok, over, huge = asyncio.run(main())
    assert ok.status_code == 200
    for r in (over, huge):
        assert r.status_code == 400 and "at most 20" in r.json()["error"]["message"]


# ----------------------------------------------------------------------------- item 11: long traces
class _CountingStr(str):
    """A str that adds up the characters copied by slicing it."""

    copied = 0

    def __getitem__(self, key: Any) -> str:
        out = str.__getitem__(self, key)
        if isinstance(key, slice):
            type(self).copied += len(out)
        return out


class _CountingTuple(tuple[str, ...]):
    sliced = 0

    def __getitem__(self, key: Any) -> Any:
        out = tuple.__getitem__(self, key)
        if isinstance(key, slice):
            type(self).sliced += len(out)
        return out


def _long_traceset(n_chars: int, *, with_tokens: bool) -> TraceSet:
    words = "alpha beta gamma delta epsilon zeta eta theta ".split()
    toks = [words[i % len(words)] + " " for i in range(n_chars // 6)]
    p = Problem("long", "What is 6 * 7?", "42", AnswerKind.INTEGER, "t")
    traces = []
    for j in range(2):
        pieces = [*toks, f"\\boxed{{{41 + j}}}"]
        text = _CountingStr("".join(pieces))
        traces.append(Trace("long", j, text, len(pieces), str(41 + j), FinishReason.STOP,
                            tokens=_CountingTuple(pieces) if with_tokens else None))
    return TraceSet((p,), {"long": tuple(traces)}, {"format": "deepprune/traces-v1"}, name="long")


@pytest.mark.parametrize("with_tokens", [False, True])
@pytest.mark.parametrize("spec", ["oracle", "oracle:prefix=tokens:100000", "deepprune:judge=lexical"])
def test_replay_of_a_long_trace_copies_its_text_a_bounded_number_of_times(spec: str, with_tokens: bool) -> None:
    """Prefix strategies watch a trace with few reasoning words to its end; each progress event
    used to copy the text so far (quadratic). Count the characters copied instead of timing."""
    from deepprune.engine.bench import bench

    ts = _long_traceset(120_000, with_tokens=with_tokens)
    total = sum(len(t.text) for t in ts.traces["long"])
    _CountingStr.copied = _CountingTuple.sliced = 0
    (row,) = bench([ts], [spec])
    assert row.tokens == sum(t.n_tokens for t in ts.traces["long"])
    assert _CountingStr.copied <= 2 * total, f"{_CountingStr.copied:,} characters copied for {total:,}"
    assert _CountingTuple.sliced <= 2 * sum(t.n_tokens for t in ts.traces["long"])


def test_trace_progress_text_view_is_the_text_so_far() -> None:
    from deepprune.core.prefix import PrefixWatcher, Truncation
    from deepprune.strategies.base import TraceProgress

    ev = TraceProgress(0, 3, "so wait then more", None, text_end=9)
    assert ev.text == "so wait t" and ev == TraceProgress(0, 3, "so wait t") and "so wait t" in repr(ev)
    w = PrefixWatcher(Truncation("words", 2))
    assert w.prefix(3, ev.text_buffer, key=0, end=ev.text_end) == "so wait"
    w1 = PrefixWatcher(Truncation("words", 3))
    # "t" is cut at the end: "then" is not a marker yet, exactly as in the copied text
    assert w1.prefix(3, ev.text_buffer, key=1, end=ev.text_end) is None
    assert w1.prefix(5, "so wait then more", key=1) == "so wait then"


# ----------------------------------------------------------------------------- item 7: failed problems
def test_transient_failure_is_a_failed_problem_retried_on_resume(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    traces = tmp_path / "traces.jsonl"
    write_traces(TS, traces)
    out, summary = tmp_path / "f.jsonl", tmp_path / "s.json"
    # the first two requests (the warm-up traces of problem 0) come without logprobs
    with ReplayServer(TS, ServerConfig(rate=0, faults=(Fault.parse("nologprobs@2"),))).in_thread() as srv:
        args = ["run", "--base-url", srv.base_url, "--model", "m", "-s", "deepconf-low:warmup=2,window=16",
                "--problems", str(traces), "--limit", "2", "--n", "8", "--max-tokens", "4096",
                "--out", str(out), "--json", str(summary)]
        assert main(args) == 1  # not a silent success
        err = capsys.readouterr().err
        assert "1 problem(s) failed" in err and "run the same command again to retry" in err
        rec = [json.loads(x) for x in out.read_text().splitlines()[1:]]
        first = {r["problem_id"]: r["result"] for r in rec}[TS.problems[0].id]
        assert first["failed"] is True and first["answer"] is None and first["correct"] is None
        report = json.loads(summary.read_text())
        assert report["problems_failed"] == 1 and report["accuracy"] == 1.0  # not counted as wrong
        # resume: the failed problem is run again (and only it), then it is done
        requests = srv.stats().requests
        assert main(args) == 0
        assert "1 failed one(s) to retry" in capsys.readouterr().err
        assert 0 < srv.stats().requests - requests <= 8
    rows = [json.loads(x) for x in out.read_text().splitlines()[1:]]
    assert [r["problem_id"] for r in rows] == [TS.problems[0].id, TS.problems[1].id, TS.problems[0].id]
    assert rows[-1]["result"]["failed"] is False and rows[-1]["result"]["answer"] is not None
    report = json.loads(summary.read_text())
    assert report["problems_failed"] == 0 and report["problems"] == 2


# ----------------------------------------------------------------------------- item 10: secrets
_KEY, _PASS, _QKEY = "sk-SECRETKEY-123", "URLPASS99", "QUERYKEY77"


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """A server that answers every completion with HTTP 400 echoing the credentials it got."""

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": []})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        auth = self.headers.get("Authorization", "")
        self._send(400, {"error": {"message": f"Incorrect API key provided: {auth.split()[-1]} "
                                              f"(header {auth!r}, path {self.path})"}})


@pytest.mark.parametrize("userinfo", ["", f"user:{_PASS}@"])
def test_credentials_never_reach_logs_errors_or_files(userinfo: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://{userinfo}127.0.0.1:{srv.server_address[1]}/v1?key={_QKEY}"
        with caplog.at_level(logging.INFO):
            code = main(["-v", "run", "--base-url", url, "--model", "m", "--api-key", _KEY, "--question",
                         "What is 1 + 1?", "--n", "2", "--retries", "0", "--out", str(tmp_path / "f.jsonl")])
    finally:
        srv.shutdown()
        srv.server_close()
    assert code == 1
    err = capsys.readouterr().err
    assert "Incorrect API key provided: ***" in err  # the server's message is kept, the key is not
    seen = err + caplog.text + "".join(r.getMessage() for r in caplog.records)
    seen += (tmp_path / "f.jsonl").read_text()
    assert "HTTP 400" in seen and "127.0.0.1" in seen
    assert "path /v1/chat/completions?***" in seen  # the base URL's query is sent, after the path
    basic = base64.b64encode(f"user:{_PASS}".encode()).decode()
    for secret in (_KEY, _PASS, _QKEY, "user:", basic):
        assert secret not in seen, secret
    # the --out file and the --json summary of a run that works
    out, summary = tmp_path / "ok.jsonl", tmp_path / "s.json"
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as rs:
        url = rs.base_url.replace("http://", f"http://user:{_PASS}@") + f"?key={_QKEY}"
        assert main(["run", "--base-url", url, "--model", "m", "--api-key", _KEY, "--question",
                     TS.problems[0].question, "--n", "2", "--out", str(out), "--json", str(summary)]) == 0
    report = json.loads(summary.read_text())
    assert report["settings"]["base_url"] == rs.base_url.replace("http://", "http://***@") + "?***"
    for text in (out.read_text(), summary.read_text(), capsys.readouterr().out):
        for secret in (_KEY, _PASS, _QKEY):
            assert secret not in text


def test_redaction_helper() -> None:
    from deepprune.core.redact import redact, redact_url, register

    assert redact_url("https://a:b@h/v1?x=1#f") == "https://***@h/v1?***#f"
    register("tok-abcdef")
    assert redact("echo tok-abcdef and http://u:p@h/x?k=v and Bearer zz") == \
        "echo *** and http://***@h/x?*** and Bearer ***"
    register("ab")  # too short to register: ordinary text stays
    assert redact("about ab") == "about ab"
