"""1,000 concurrent live streams against local load-generator instances: memory, file descriptors,
every trace accounted.

    PYTHONPATH=src python benchmarks/bench_many_streams.py [--streams 1000] [--instances 2]
        [--tokens 200] [--rate 10] [--top 20] [--json out.json]

Starts ``--instances`` ``deepprune loadgen`` processes (paced at ``--rate`` tokens/s per stream,
so that all streams really are open at once) and, in this process, one
:class:`~deepprune.sources.live.LiveSource` per instance (``max_concurrency`` = its share of the
streams) with one session launching that many traces (top-``--top`` logprobs). While they run it
samples this process's resident memory (``VmRSS``) and open file descriptors every 0.25 s.

Checks: every trace finishes with exactly ``--tokens`` tokens and as many confidences; the
generators sent exactly the tokens received and saw every stream complete; the peak of streams
open at once (the generators' own count) equals ``--streams``; after the sessions close, the open
file descriptors are back to where they started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bench_client_throughput import start_generator

from deepprune.core.types import Problem
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig
from deepprune.strategies.base import TraceFinished


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def run(urls: list[str], streams: int, tokens: int, top: int) -> dict[str, Any]:
    share = [streams // len(urls) + (1 if i < streams % len(urls) else 0) for i in range(len(urls))]
    peak = {"rss_mb": rss_mb(), "fds": open_fds()}
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            peak["rss_mb"] = max(peak["rss_mb"], rss_mb())
            peak["fds"] = max(peak["fds"], open_fds())
            await asyncio.sleep(0.25)

    async def one_instance(i: int, url: str) -> list[int]:
        cfg = EndpointConfig(base_url=url, model="loadgen", top_logprobs=top, max_tokens=tokens,
                             max_concurrency=share[i], first_token_timeout_s=120, stall_timeout_s=120)
        counts: list[int] = []
        async with LiveSource(cfg) as src, src.session(Problem(f"p{i}", "q", "42")) as sess:
            for tid in range(share[i]):
                await sess.launch(tid)
            while (ev := await sess.next_event()) is not None:
                if not isinstance(ev, TraceFinished):
                    raise RuntimeError(f"instance {i}: {ev}")
                if top and (ev.confs is None or len(ev.confs) != ev.n_tokens):
                    raise RuntimeError(f"instance {i}: trace {ev.trace_id} lost confidences")
                counts.append(ev.n_tokens)
        return counts

    sampler = asyncio.create_task(sample())
    t0 = time.perf_counter()
    c0 = time.process_time()
    results = await asyncio.gather(*(one_instance(i, u) for i, u in enumerate(urls)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done.set()
    await sampler
    counts = [c for r in results for c in r]
    stats = []
    async with httpx.AsyncClient() as h:
        for u in urls:
            stats.append((await h.get(u.removesuffix("/v1") + "/stats")).json())
    return {"counts": counts, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak["rss_mb"],
            "peak_fds": peak["fds"], "generator_stats": stats}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    gens = [start_generator("vllm", args.tokens, args.rate) for _ in range(args.instances)]
    try:
        fds0, rss0 = open_fds(), rss_mb()
        out = asyncio.run(run([u for _, u in gens], args.streams, args.tokens, args.top))
        fds1, rss1 = open_fds(), rss_mb()
    finally:
        for p, _ in gens:
            p.terminate()
            p.wait(10)
    counts = out.pop("counts")
    stats = out.pop("generator_stats")
    sent = sum(s["tokens_sent"] for s in stats)
    completed = sum(s["streams_completed"] for s in stats)
    max_open = sum(s["max_open_streams"] for s in stats)
    ok = (len(counts) == args.streams and all(c == args.tokens for c in counts)
          and sent == sum(counts) and completed == args.streams and fds1 <= fds0)
    res = {"date": datetime.now(UTC).strftime("%Y-%m-%d"),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
           **vars(args), "json": None, "traces_finished": len(counts), "tokens_received": sum(counts),
           "tokens_sent_by_generators": sent, "streams_completed_at_generators": completed,
           "peak_streams_open_at_once": max_open, "rss_mb_before": round(rss0, 1),
           "peak_rss_mb": round(out["peak_rss_mb"], 1), "rss_mb_after": round(rss1, 1),
           "max_rss_mb_getrusage": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "fds_before": fds0, "peak_fds": out["peak_fds"], "fds_after": fds1,
           "wall_s": round(out["wall_s"], 2), "client_cpu_s": round(out["cpu_s"], 2),
           "tokens_per_wall_s": round(sum(counts) / out["wall_s"]), "all_accounted": ok}
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
