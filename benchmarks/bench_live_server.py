"""Throughput and cancellation latency of the local llama.cpp server, measured through deepprune's client.

    .venv/bin/python benchmarks/bench_live_server.py [--np 1,2,4,8,16] [--tokens 128] [--out FILE.json]

For each slot count ``np`` it starts ``deepprune.servers.local.LocalServer(parallel=np)`` and opens
``np`` streams at once (chat, GSM8K-style question, ``ignore_eos`` so every stream generates exactly
``--tokens`` tokens), with top-20 logprobs; aggregate tokens/s = all tokens / wall time from the
first request to the last token (prompt processing included). ``np=1`` is the single-stream
figure. With ``--logprobs-cost`` it repeats the largest ``np`` without logprobs. Cancellation
latency: a stream is closed after 5 tokens and ``/slots`` is polled every 10 ms until the slot
is free (median of 5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from deepprune.servers.local import MODEL_NAME, LocalServer, LocalServerConfig
from deepprune.sources.openai_client import EndpointConfig, StreamClient, TokenChunk

QUESTION = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
            "How many clips did Natalia sell altogether in April and May?")


async def _throughput(srv: LocalServer, streams: int, tokens: int, top_logprobs: int) -> dict[str, float]:
    cfg = EndpointConfig(base_url=srv.base_url, model=MODEL_NAME, max_tokens=tokens, top_logprobs=top_logprobs,
                         max_concurrency=streams, stall_timeout_s=600, extra_body={"ignore_eos": True})
    counts = [0] * streams
    first: list[float] = []
    async with StreamClient(cfg) as client:
        async def one(i: int) -> None:
            async for item in client.stream(QUESTION, seed=i):
                if isinstance(item, TokenChunk):
                    if not first:
                        first.append(time.perf_counter())
                    counts[i] += item.n

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(streams)))
        wall = time.perf_counter() - t0
    total = sum(counts)
    return {"streams": streams, "tokens": total, "wall_s": round(wall, 2),
            "tokens_per_s": round(total / wall, 2), "per_stream_tokens_per_s": round(total / wall / streams, 2),
            "first_token_s": round(first[0] - t0, 2) if first else float("nan")}


async def _cancel_latency(srv: LocalServer, repeats: int = 5) -> dict[str, float]:
    cfg = EndpointConfig(base_url=srv.base_url, model=MODEL_NAME, max_tokens=400, top_logprobs=20,
                         extra_body={"ignore_eos": True})
    lat = []
    async with StreamClient(cfg) as client:
        for r in range(repeats):
            n = 0
            agen = client.stream(QUESTION, seed=100 + r)
            async for item in agen:
                if isinstance(item, TokenChunk):
                    n += item.n
                    if n >= 5:
                        break
            t0 = time.perf_counter()
            await agen.aclose()
            while any(s.get("is_processing") for s in await asyncio.to_thread(srv.slots)):
                await asyncio.sleep(0.01)
            lat.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(lat), 3), "max_s": round(max(lat), 3), "repeats": repeats}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--np", default="1,2,4,8,16")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--logprobs-cost", action="store_true")
    ap.add_argument("--cancel", action="store_true")
    ap.add_argument("--autogroup-nice", type=int, default=None,
                    help="Linux, shared machine: set the server's scheduler autogroup nice (e.g. -10) so that "
                         "other sessions' work disturbs the measurement less")
    ap.add_argument("--out", default="benchmarks/results/live_server.json")
    args = ap.parse_args()
    rows = []
    nps = [int(x) for x in args.np.split(",")]
    for np_ in nps:
        with LocalServer(LocalServerConfig(parallel=np_, threads=args.threads)) as srv:
            if args.autogroup_nice is not None and srv.proc is not None:
                Path(f"/proc/{srv.proc.pid}/autogroup").write_text(str(args.autogroup_nice))
            asyncio.run(_throughput(srv, 1, 8, 20))  # warm-up
            row = {"np": np_, "top_logprobs": 20, **asyncio.run(_throughput(srv, np_, args.tokens, 20))}
            print(json.dumps(row), flush=True)
            rows.append(row)
            if args.logprobs_cost and np_ == max(nps):
                row0 = {"np": np_, "top_logprobs": 0, **asyncio.run(_throughput(srv, np_, args.tokens, 0))}
                print(json.dumps(row0), flush=True)
                rows.append(row0)
            if args.cancel and np_ == max(nps):
                cancel = asyncio.run(_cancel_latency(srv))
                print(json.dumps({"cancel": cancel}), flush=True)
                rows.append({"np": np_, "cancel": cancel})
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
              "autogroup_nice": args.autogroup_nice,
              "tokens_per_stream": args.tokens, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
