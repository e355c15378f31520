"""``deepprune loadgen``: a load generator of pre-encoded OpenAI-style SSE streams (client benchmarks)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import sys
from typing import Any

from deepprune.cli.common import int_at_least, non_negative_float, wait_for_signal
from deepprune.core.errors import ConfigError
from deepprune.servers.loadgen import FLAVORS, GeneratorConfig, LoadGenerator


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "loadgen", help="serve pre-encoded OpenAI-style token streams as fast as the socket allows",
        description="A load generator for measuring the live client: every stream is encoded once "
                    "(real chunk shapes: chat and completions, vLLM or llama.cpp spelling, with the top "
                    "logprobs the request asks for) and written in large slices. See docs/scale.md.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int_at_least(0), default=8021, help="port (0: a free one; default 8021)")
    p.add_argument("--flavor", choices=FLAVORS, default="vllm", help="chunk spelling (default vllm)")
    p.add_argument("--tokens", type=int_at_least(1), default=1024,
                   help="tokens per stream; a request's max_tokens lowers it (default 1024)")
    p.add_argument("--rate", type=non_negative_float, default=0.0, metavar="TOKENS_PER_S",
                   help="tokens per second per stream (default 0: as fast as the client reads)")
    p.add_argument("--tokens-per-chunk", type=int_at_least(1), default=1,
                   help="tokens per SSE chunk (default 1, as servers stream them)")
    p.add_argument("--model", default="loadgen")
    p.set_defaults(func=cmd_loadgen)


def cmd_loadgen(args: argparse.Namespace) -> int:
    cfg = GeneratorConfig(host=args.host, port=args.port, flavor=args.flavor, tokens=args.tokens,
                          rate=args.rate, tokens_per_chunk=args.tokens_per_chunk, model=args.model)
    gen = LoadGenerator(cfg)
    asyncio.run(_serve(gen))
    s = gen.stats
    print(f"deepprune loadgen: {s.streams_completed} streams completed, {s.streams_cancelled} cancelled, "
          f"{s.tokens_sent} tokens sent", file=sys.stderr)
    return 0


async def _serve(gen: LoadGenerator) -> None:
    try:
        await gen.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError("--port", gen.config.port, "a free port (or 0 for any free one)") from None
        raise ConfigError("--host/--port", f"{gen.config.host}:{gen.config.port}",
                          f"an address to listen on ({exc.strerror or exc})") from None
    print(f"listening on {gen.base_url}", flush=True)
    try:
        await wait_for_signal()
    finally:
        await gen.close()
