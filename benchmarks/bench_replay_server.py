"""Replay server throughput: tokens per second and per server CPU-second at ``--rate 0``.

    PYTHONPATH=src python benchmarks/bench_replay_server.py [--problems 10] [--k 8] [--tokens 400]
        [--top 20,0] [--repeat 3] [--server-src DIR]

Writes synthetic traces with confidences, starts ``deepprune replay-server FILE --rate 0`` in its own
process (with ``--server-src`` first on its ``PYTHONPATH``: another checkout's ``src`` to compare
two versions of the server against the same client), and streams every trace once through
:class:`~deepprune.sources.openai_client.StreamClient` (``k`` streams at once, chat, top-``top``
logprobs). Reports, best of ``--repeat``: aggregate tokens/s (wall) and tokens per CPU-second of the
server process (``/proc/PID/stat``, Linux), which is what the server's own code costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deepprune.core.types import TraceSet
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.formats.tracefile import write_traces
from deepprune.sources.openai_client import EndpointConfig, StreamClient, TokenChunk

SRC = Path(__file__).resolve().parents[1] / "src"


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run(base_url: str, ts: TraceSet, k: int, top: int) -> int:
    cfg = EndpointConfig(base_url=base_url, model="replay", max_tokens=100_000, top_logprobs=top,
                         max_concurrency=k, retries=0)
    total = 0
    async with StreamClient(cfg) as client:
        async def one(question: str, seed: int) -> int:
            n = 0
            async for item in client.stream(question, seed=seed):
                if isinstance(item, TokenChunk):
                    n += item.n
            return n

        for p in ts.problems:
            total += sum(await asyncio.gather(*(one(p.question, s) for s in range(k))))
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=10)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=400, help="mean tokens per trace")
    ap.add_argument("--top", default="20,0", help="top-logprobs settings to measure")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--server-src", type=Path, default=SRC)
    args = ap.parse_args()
    ts = synthetic_traceset(args.problems, args.k, seed=0, mean_tokens=args.tokens, with_confs=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "syn.jsonl"
        write_traces(ts, path)
        env = {**os.environ, "PYTHONPATH": str(args.server_src.resolve())}
        proc = subprocess.Popen([sys.executable, "-m", "deepprune", "replay-server", str(path), "--rate", "0",
                                 "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("listening on "):
                raise RuntimeError(f"replay-server did not start: {line!r}")
            base_url = line.removeprefix("listening on ")
            for top in (int(t) for t in args.top.split(",")):
                best: tuple[float, float, int] | None = None
                for _ in range(args.repeat):
                    cpu0, t0 = _cpu_s(proc.pid), time.perf_counter()
                    n = asyncio.run(_run(base_url, ts, args.k, top))
                    wall, cpu = time.perf_counter() - t0, _cpu_s(proc.pid) - cpu0
                    if best is None or n / cpu > best[1]:
                        best = (n / wall, n / cpu, n)
                assert best is not None
                print(f"top {top:2d}: {best[2]:,} tokens  {best[0]:,.0f} tokens/s wall  "
                      f"{best[1]:,.0f} tokens per server CPU-s  (server: {args.server_src})", flush=True)
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"machine: {platform.machine()} python {platform.python_version()}")


if __name__ == "__main__":
    main()
