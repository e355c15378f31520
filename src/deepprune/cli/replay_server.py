"""``deepprune replay-server``: serve recorded traces as an OpenAI-compatible streaming endpoint."""

from __future__ import annotations

import argparse
import asyncio
import errno
import socket
import sys
from typing import Any

from deepprune.cli.common import (
    add_trace_input_args,
    int_at_least,
    load_trace_args,
    non_negative_float,
    wait_for_signal,
)
from deepprune.core.errors import ConfigError
from deepprune.servers.replay import Assign, Fault, ReplayServer, ServerConfig


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "replay-server", help="serve recorded traces as an OpenAI-compatible streaming server",
        description="Serve recorded traces as streaming /v1/chat/completions and /v1/completions at a "
                    "fixed token rate, honouring cancellation (for hermetic tests of the live path and "
                    "wall-clock measurements without a GPU). See docs/replay-server.md.")
    p.add_argument("traces", metavar="TRACES", help="a trace file or a shipped dataset name (default)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8011, help="port (0: a free one; default 8011)")
    p.add_argument("--rate", type=non_negative_float, default=50.0, metavar="TOKENS_PER_S",
                   help="tokens per second per stream (0: as fast as possible; default 50)")
    p.add_argument("--latency", type=non_negative_float, default=0.0, metavar="SECONDS",
                   help="delay before each stream's first token (default 0)")
    p.add_argument("--model", default="", help="model name to report (default: the traces' model)")
    p.add_argument("--assign", choices=[a.value for a in Assign], default=Assign.AUTO.value,
                   help="which recorded trace a request gets: by its seed, round-robin, or auto "
                        "(seed when given; default)")
    p.add_argument("--seed-base", type=int, default=0, metavar="B",
                   help="requests seeded with deepprune's trace_seed(B, problem, k) get recorded trace k "
                        "(B = the --seed of the runs served; default 0)")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="inject a fault (repeatable): refuse, status:CODE, drop:N, stall:N:SECONDS, "
                        "malformed:N, nologprobs; append @TIMES to limit it to the first TIMES requests")
    p.add_argument("--idle-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="close a connection that starts no request for this long (default 60)")
    p.add_argument("--request-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="answer 408 and close when a request has not arrived whole this long after its "
                        "first byte (default 30)")
    add_trace_input_args(p)
    p.set_defaults(func=cmd_replay_server)


def _port(text: str) -> int:
    port = int_at_least(0)(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port 0-65535, got {port}")
    return port


def cmd_replay_server(args: argparse.Namespace) -> int:
    config = ServerConfig(host=args.host, port=args.port, rate=args.rate, latency_s=args.latency,
                          model=args.model, assign=Assign(args.assign), seed_base=args.seed_base,
                          faults=tuple(Fault.parse(s) for s in args.fault),
                          idle_timeout_s=args.idle_timeout, request_timeout_s=args.request_timeout)
    (ts,) = load_trace_args([args.traces], args)
    server = ReplayServer(ts, config)
    asyncio.run(_serve(server))
    s = server.stats()
    print(f"deepprune replay-server: {s.requests} requests, {s.streams_completed} streams completed, "
          f"{s.streams_cancelled} cancelled, {s.tokens_served} tokens served, "
          f"{s.tokens_cancelled} tokens saved by cancellation", file=sys.stderr)
    return 0


async def _serve(server: ReplayServer) -> None:
    host, port = server.config.host, server.config.port
    try:
        await server.start()
    except OSError as exc:
        await server.aclose()
        if isinstance(exc, socket.gaierror):
            raise ConfigError("--host", host, f"a host name or address this machine has ({exc.strerror or exc})") \
                from None
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError("--port", port, "a free port: it is in use (pick another, or 0 for any free one)") \
                from None
        raise ConfigError("--host/--port", f"{host}:{port}", f"an address to listen on ({exc.strerror or exc})") \
            from None
    print(f"deepprune replay-server: {len(server.traceset.problems)} problems, {server.traceset.n_traces} "
          f"traces, model {server.model!r}, {server.config.rate or 'unpaced'} tokens/s per stream",
          file=sys.stderr)
    print(f"listening on {server.base_url}", flush=True)
    try:
        await wait_for_signal()
    finally:
        await server.aclose()
