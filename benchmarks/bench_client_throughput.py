"""Client ingestion per core: tokens/s the live client decodes, against the load generator.

    PYTHONPATH=src python benchmarks/bench_client_throughput.py [--streams 8] [--tokens 4000]
        [--rounds 2] [--repeat 3] [--flavor vllm] [--api chat] [--json out.json]

1. Starts ``deepprune loadgen`` (pre-encoded SSE, :mod:`deepprune.servers.loadgen`) in a **separate
   process** and measures its own ceiling with a trivial raw-socket reader (``recv_into`` a
   preallocated buffer, no parsing): the tokens/s it can emit.
2. In this process, for top-20 logprobs and for none, reads the same streams (``--streams``
   concurrent, ``--rounds`` times, ``--tokens`` each) with:

   * ``httpx-lines``: a bare ``httpx`` loop, ``aiter_lines()`` + ``json.loads`` of each ``data:``;
   * ``httpx-bytes``: a bare ``httpx`` loop, ``aiter_bytes()``, events split by hand, decoded with
     the fastest JSON decoder installed (``orjson`` when present); the faster of the two bare loops
     is this stack's **ceiling**;
   * ``StreamClient``: :meth:`deepprune.sources.openai_client.StreamClient.stream`, consumed as
     :class:`~deepprune.sources.live.LiveSession` consumes it (text, count, confidences);
   * ``LiveSource``: the whole live path, one :class:`~deepprune.sources.live.LiveSession` per round
     launching every stream and draining its events (what ``deepprune run`` does under a strategy).

   Tokens per client core = tokens / CPU seconds of this process (``time.process_time``): the
   generator runs in its own process, so on a busy machine this is steadier than wall-clock rates
   (which are printed too). Best of ``--repeat``. Every read is checked to count every token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from deepprune.core.types import Problem
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig, StreamClient, TokenChunk
from deepprune.strategies.base import TraceFailed, TraceFinished

try:
    import orjson

    _fast_loads: Callable[[bytes | str], Any] = orjson.loads
    FAST_DECODER = "orjson"
except ImportError:  # pragma: no cover
    _fast_loads = json.loads
    FAST_DECODER = "json"

SRC = Path(__file__).resolve().parents[1] / "src"


def start_generator(flavor: str, tokens: int, rate: float = 0.0) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "deepprune", "loadgen", "--port", "0", "--flavor", flavor,
                             "--tokens", str(tokens), "--rate", str(rate)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"loadgen did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def request_body(api: str, top: int, tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "loadgen", "stream": True, "max_tokens": tokens,
                            "stream_options": {"include_usage": True}}
    if api == "chat":
        body["messages"] = [{"role": "user", "content": "q"}]
        if top:
            body["logprobs"] = True
            body["top_logprobs"] = top
    else:
        body["prompt"] = "q"
        if top:
            body["logprobs"] = top
    return body


# ---------------------------------------------------------------------------- generator ceiling
def raw_ceiling(base_url: str, api: str, top: int, tokens: int, streams: int, rounds: int) -> dict[str, float]:
    """The generator's own rate: ``streams`` raw sockets, no parsing at all."""
    host, port = base_url.removeprefix("http://").split("/")[0].split(":")
    path = "/v1/chat/completions" if api == "chat" else "/v1/completions"
    payload = json.dumps(request_body(api, top, tokens)).encode()
    req = (f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
           f"content-length: {len(payload)}\r\n\r\n").encode() + payload
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    total_bytes = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        sel = selectors.DefaultSelector()
        tails: dict[socket.socket, bytes] = {}
        for _ in range(streams):
            s = socket.create_connection((host, int(port)))
            s.sendall(req)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            tails[s] = b""
        while tails:
            for key, _ in sel.select():
                s = key.fileobj
                assert isinstance(s, socket.socket)
                n = s.recv_into(mv)
                total_bytes += n
                tail = (tails[s] + bytes(mv[max(0, n - 5):n]))[-5:]
                if n == 0 or tail == b"0\r\n\r\n":
                    sel.unregister(s)
                    s.close()
                    del tails[s]
                else:
                    tails[s] = tail
        sel.close()
    wall = time.perf_counter() - t0
    n_tok = tokens * streams * rounds
    return {"tokens": n_tok, "wall_s": wall, "tokens_per_s": n_tok / wall, "mb_per_s": total_bytes / wall / 1e6,
            "bytes_per_token": total_bytes / n_tok}


# ---------------------------------------------------------------------------- client modes
async def bare_lines(client: httpx.AsyncClient, path: str, body: dict[str, Any], top: int) -> int:
    n = 0
    async with client.stream("POST", path, json=body) as r:
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            obj = json.loads(data)
            ch = obj["choices"]
            if ch:
                lp = ch[0].get("logprobs")
                if top and lp:
                    n += len(lp["content"]) if "content" in lp else len(lp["tokens"])
                elif not top and (ch[0].get("delta", {}).get("content") or ch[0].get("text")):
                    n += 1
    return n


async def bare_bytes(client: httpx.AsyncClient, path: str, body: dict[str, Any], top: int) -> int:
    n = 0
    buf = b""
    loads = _fast_loads
    async with client.stream("POST", path, json=body) as r:
        async for data in r.aiter_bytes():
            buf += data
            *events, buf = buf.split(b"\n\n")
            for ev in events:
                if not ev.startswith(b"data: "):
                    continue
                payload = ev[6:]
                if payload == b"[DONE]":
                    return n
                ch = loads(payload)["choices"]
                if ch:
                    lp = ch[0].get("logprobs")
                    if top and lp:
                        n += len(lp["content"]) if "content" in lp else len(lp["tokens"])
                    elif not top and (ch[0].get("delta", {}).get("content") or ch[0].get("text")):
                        n += 1
    return n


async def run_bare(kind: str, base_url: str, api: str, top: int, tokens: int, streams: int,
                   rounds: int) -> int:
    path = "chat/completions" if api == "chat" else "completions"
    body = request_body(api, top, tokens)
    fn = bare_lines if kind == "lines" else bare_bytes
    limits = httpx.Limits(max_connections=streams + 4, max_keepalive_connections=streams)
    total = 0
    async with httpx.AsyncClient(base_url=base_url + "/", limits=limits, timeout=60) as client:
        for _ in range(rounds):
            total += sum(await asyncio.gather(*(fn(client, path, body, top) for _ in range(streams))))
    return total


def endpoint(base_url: str, api: str, top: int, tokens: int, streams: int) -> EndpointConfig:
    return EndpointConfig(base_url=base_url, model="loadgen", chat=api == "chat", top_logprobs=top,
                          max_tokens=tokens, max_concurrency=streams)


async def run_stream_client(base_url: str, api: str, top: int, tokens: int, streams: int, rounds: int) -> int:
    cfg = endpoint(base_url, api, top, tokens, streams)
    total = 0
    async with StreamClient(cfg) as client:
        async def one(seed: int) -> int:
            parts: list[str] = []
            confs: list[float] = []
            n = 0
            async for item in client.stream("q", seed=seed):
                if isinstance(item, TokenChunk):  # what LiveSession._run keeps
                    parts.append(item.text)
                    n += item.n
                    if top:
                        confs.extend(item.confs or (0.0,) * item.n)
            return n

        for r in range(rounds):
            total += sum(await asyncio.gather(*(one(r * streams + i) for i in range(streams))))
    return total


async def run_live_source(base_url: str, api: str, top: int, tokens: int, streams: int, rounds: int) -> int:
    cfg = endpoint(base_url, api, top, tokens, streams)
    source = LiveSource(cfg)
    total = 0
    for r in range(rounds):
        async with source.session(Problem(f"p{r}", "q", "42"), seed=r) as sess:
            for tid in range(streams):
                await sess.launch(tid)
            while (ev := await sess.next_event()) is not None:
                if isinstance(ev, TraceFinished):
                    total += ev.n_tokens
                elif isinstance(ev, TraceFailed):
                    raise RuntimeError(f"trace failed: {ev.error}")
    return total


MODES: dict[str, Callable[..., Awaitable[int]]] = {
    "httpx-lines": lambda *a: run_bare("lines", *a),
    "httpx-bytes": lambda *a: run_bare("bytes", *a),
    "StreamClient": run_stream_client,
    "LiveSource": run_live_source,
}


def measure(mode: str, base_url: str, api: str, top: int, tokens: int, streams: int, rounds: int,
            repeat: int) -> dict[str, float]:
    best: dict[str, float] | None = None
    expected = tokens * streams * rounds
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        got = asyncio.run(MODES[mode](base_url, api, top, tokens, streams, rounds))
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if got != expected:
            raise RuntimeError(f"{mode}: counted {got} tokens, expected {expected}")
        row = {"tokens": got, "cpu_s": cpu, "wall_s": wall, "tokens_per_cpu_s": got / cpu,
               "tokens_per_wall_s": got / wall}
        if best is None or row["cpu_s"] < best["cpu_s"]:
            best = row
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--flavor", default="vllm", choices=["vllm", "llamacpp"])
    ap.add_argument("--api", default="chat", choices=["chat", "completions"])
    ap.add_argument("--top", default="20,0", help="top-logprobs settings to measure (default 20,0)")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    proc, base_url = start_generator(args.flavor, args.tokens)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, httpx {httpx.__version__}", "decoder": FAST_DECODER,
        "flavor": args.flavor, "api": args.api, "streams": args.streams, "tokens_per_stream": args.tokens,
        "rounds": args.rounds, "rows": []}
    try:
        for top in (int(x) for x in args.top.split(",")):
            ceil = raw_ceiling(base_url, args.api, top, args.tokens, args.streams, args.rounds * 2)
            print(f"top_logprobs={top}: generator ceiling {ceil['tokens_per_s']:,.0f} tokens/s "
                  f"({ceil['mb_per_s']:.0f} MB/s, {ceil['bytes_per_token']:.0f} B/token) to a raw-socket reader",
                  flush=True)
            rows = {}
            for mode in args.modes.split(","):
                rows[mode] = measure(mode, base_url, args.api, top, args.tokens, args.streams, args.rounds,
                                     args.repeat)
            bare = max(rows.get("httpx-lines", {}).get("tokens_per_cpu_s", 0.0),
                       rows.get("httpx-bytes", {}).get("tokens_per_cpu_s", 0.0))
            for mode, row in rows.items():
                ratio = row["tokens_per_cpu_s"] / bare if bare else float("nan")
                print(f"  {mode:13s} {row['tokens_per_cpu_s']:>9,.0f} tokens/CPU-s  "
                      f"{row['tokens_per_wall_s']:>9,.0f} tokens/wall-s  {100 * ratio:5.0f}% of bare httpx",
                      flush=True)
                results["rows"].append({"top_logprobs": top, "mode": mode, **row, "ratio_to_bare": ratio})
            results["rows"].append({"top_logprobs": top, "mode": "generator-ceiling", **ceil})
    finally:
        proc.terminate()
        proc.wait(10)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
