"""``deepprune collect``: sample K traces per problem from a server into a resumable trace file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from typing import Any

from deepprune.cli.common import positive_float
from deepprune.core.errors import ConfigError
from deepprune.engine.collect import collect, select_problems
from deepprune.sources.openai_client import DEFAULT_SYSTEM_PROMPT, EndpointConfig

__all__ = ["add_endpoint_args", "add_parser", "endpoint_from_args", "endpoints_from_args"]


def add_endpoint_args(p: argparse.ArgumentParser, *, default_concurrency: int = 8) -> None:
    """Server options shared by ``collect`` and ``run``."""
    g = p.add_argument_group("server")
    g.add_argument("--base-url", required=True, action="append", metavar="URL",
                   help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1; repeat it for several servers of the "
                        "same model (each request goes to the healthy one with the fewest open streams; --concurrency "
                        "applies per server)")
    g.add_argument("--model", required=True, help="model name the server knows")
    g.add_argument("--api-key", default=None,
                   help="API key (default: $OPENAI_API_KEY); never logged or saved")
    g.add_argument("--completions", action="store_true",
                   help="use /completions with the plain question instead of /chat/completions")
    g.add_argument("--system-prompt", default=DEFAULT_SYSTEM_PROMPT, help="chat system prompt ('' for none)")
    g.add_argument("--max-tokens", type=int, default=512, help="most new tokens per trace (default 512)")
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-p", type=float, default=0.95)
    g.add_argument("--top-logprobs", type=int, default=20,
                   help="alternatives per token for DeepConf confidence (0 = no logprobs; default 20)")
    g.add_argument("--concurrency", type=int, default=default_concurrency,
                   help=f"streams open at once per server (default {default_concurrency})")
    g.add_argument("--stall-timeout", type=positive_float, default=60.0,
                   help="seconds without a token before a stream counts as stalled (default 60)")
    g.add_argument("--retries", type=int, default=3, help="retries before the first token (default 3)")


def endpoints_from_args(args: argparse.Namespace) -> list[EndpointConfig]:
    """One EndpointConfig per ``--base-url`` (same model and settings)."""
    first = endpoint_from_args(args)
    return [first, *(replace(first, base_url=u) for u in args.base_url[1:])]


def endpoint_from_args(args: argparse.Namespace) -> EndpointConfig:
    """The first ``--base-url``'s endpoint."""
    return EndpointConfig(base_url=args.base_url[0], model=args.model, api_key=args.api_key,
                          chat=not args.completions, system_prompt=args.system_prompt or None,
                          max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                          top_logprobs=args.top_logprobs, max_concurrency=args.concurrency,
                          stall_timeout_s=args.stall_timeout, retries=args.retries)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "collect",
        help="sample K traces per problem from a server into a resumable trace file",
        description="Sample --n traces per problem (one streaming request each, deterministic per-trace seeds) "
                    "and append each finished trace to --out (deepprune/traces-v1). Killed and restarted "
                    "with the same arguments, it resumes: nothing finished is lost or duplicated.",
    )
    add_endpoint_args(p)
    p.add_argument("--problems", action="append", required=True, metavar="FILE",
                   help="benchmark file (JSONL); repeat to mix files")
    p.add_argument("--limit", type=int, default=None, help="first N problems of each file (after selection)")
    p.add_argument("--select", action="append", default=[], metavar="KEY=V1,V2",
                   help="keep problems whose metadata KEY is one of the values (problems without KEY are "
                        "kept), e.g. level=2,3,4; repeatable")
    p.add_argument("--shuffle-seed", type=int, default=None,
                   help="shuffle each file's problems with this seed before --limit (default: file order)")
    p.add_argument("--n", type=int, required=True, help="traces per problem (K)")
    p.add_argument("--rounds", default=None, metavar="K1,K2,...",
                   help="collect in rounds of growing trace counts (default 8,16,24,...,K)")
    p.add_argument("--seed", type=int, default=0, help="base seed of the per-trace seeds (default 0)")
    p.add_argument("--out", required=True, help="output .jsonl (appended to / resumed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_collect)


def _parse_select(specs: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or not key or not values:
            raise ConfigError("--select", spec, "KEY=V1,V2,...")
        out.setdefault(key.strip(), []).extend(v.strip() for v in values.split(","))
    return out


def cmd_collect(args: argparse.Namespace) -> int:
    configs = endpoints_from_args(args)
    problems = select_problems(args.problems, select=_parse_select(args.select), shuffle_seed=args.shuffle_seed,
                               limit=args.limit)
    rounds = None
    if args.rounds:
        try:
            rounds = [int(x) for x in args.rounds.split(",")]
        except ValueError as exc:
            raise ConfigError("--rounds", args.rounds, "comma-separated integers") from exc
    extra = {"problems": {"files": [str(p).rsplit("/", 1)[-1] for p in args.problems], "limit": args.limit,
                          "select": args.select, "shuffle_seed": args.shuffle_seed, "count": len(problems)}}
    summary = asyncio.run(collect(configs, problems, args.out, n=args.n, rounds=rounds, seed=args.seed,
                                  progress=not args.no_progress, header_extra=extra))
    print(f"deepprune collect: wrote {summary.written} traces ({summary.skipped_existing} already there, "
          f"{summary.failed} failed and left for the next run), {summary.tokens} tokens in "
          f"{summary.wall_s:.0f} s ({summary.tokens_per_s:.1f} tokens/s) -> {args.out}", file=sys.stderr)
    return 0 if summary.failed == 0 else 3
