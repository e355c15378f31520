"""``deepprune run``: answer questions live with a strategy on an OpenAI-compatible server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import replace
from typing import Any

from deepprune.cli.common import check_output, positive_float, write_json
from deepprune.core.errors import ClientError, ConfigError, DeepPruneError
from deepprune.core.types import AnswerKind, Problem
from deepprune.engine.liverun import (
    LiveRow,
    ResultsFile,
    RunSettings,
    load_problems_any,
    run_live,
    summarize,
)
from deepprune.engine.workers import run_sharded
from deepprune.report.live import live_row_line, live_summary_text
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import DEFAULT_SYSTEM_PROMPT, EndpointConfig
from deepprune.sources.preflight import preflight
from deepprune.strategies.registry import available, build

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="answer questions live with a strategy on an OpenAI-compatible server",
        description="Answer questions with a strategy against a live OpenAI-compatible server (vLLM, SGLang, "
                    "llama.cpp, Ollama, a hosted API, or `deepprune replay-server`): one streaming request "
                    "per trace, stopped traces' streams closed. Reports answer, correctness, generated tokens, "
                    "traces stopped and wall time; --compare cons also runs cons@K on the same server. "
                    f"Strategies: {', '.join(available())}.")
    p.add_argument("--base-url", required=True, action="append", metavar="URL",
                   help="the server's OpenAI base URL, e.g. http://127.0.0.1:8080/v1; repeat it for several servers of the same model (each request goes to the healthy one with the fewest open streams; --concurrency applies per server)")
    p.add_argument("--model", required=True, help="model name to request")
    p.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY; never logged)")
    p.add_argument("--strategy", "-s", default="cons", metavar="NAME[:k=v,...]", help="strategy (default cons)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--problems", metavar="FILE", help="benchmark JSONL, trace file, or a shipped dataset name")
    what.add_argument("--question", metavar="TEXT", help="one question")
    p.add_argument("--gold", default=None, help="gold answer of --question (to grade it)")
    p.add_argument("--kind", choices=[k.value for k in AnswerKind], default=AnswerKind.MATH.value,
                   help="answer kind of --question (default math)")
    p.add_argument("--n", type=int, default=8, metavar="K", help="traces per problem (budget K; default 8)")
    p.add_argument("--limit", type=int, default=None, help="only the first N problems")
    p.add_argument("--seed", type=int, default=0, help="base sampling seed (each trace gets its own)")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--top-logprobs", type=int, default=20,
                   help="alternatives per token for DeepConf confidence (0: ask for no logprobs)")
    p.add_argument("--completions", action="store_true", help="use /completions with a plain prompt, not chat")
    p.add_argument("--system-prompt", default=DEFAULT_SYSTEM_PROMPT, help="system prompt ('' for none)")
    p.add_argument("--concurrency", type=int, default=8, help="streams open at once per server (default 8)")
    p.add_argument("--problem-concurrency", type=int, default=1, help="problems run at once (per worker; default 1)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="shard the problems over N client processes (each with its own event loop and HTTP "
                        "clients; --concurrency and --problem-concurrency apply per worker); the parent alone "
                        "writes --out, so resuming works as with one (default 1: this process)")
    p.add_argument("--stall-timeout", type=positive_float, default=60.0, metavar="S",
                   help="a stream with no token for S seconds has failed (default 60)")
    p.add_argument("--retries", type=int, default=3, help="retries before the first token (default 3)")
    p.add_argument("--compare", default=None, metavar="NAME", help="also run this baseline (cons) on each problem")
    p.add_argument("--out", metavar="FILE.jsonl",
                   help="write each problem's result as it completes; rerun with the same file to resume")
    p.add_argument("--json", metavar="FILE|-", help="write the summary and rows as JSON (- for stdout)")
    p.set_defaults(func=cmd_run)


def _problems(args: argparse.Namespace) -> list[Problem]:
    if args.question is not None:
        if not args.question.strip():
            raise ConfigError("--question", args.question, "a non-empty question")
        return [Problem("q0", args.question, args.gold, AnswerKind(args.kind), source="cli")]
    if args.gold is not None:
        raise ConfigError("--gold", args.gold, "used only with --question")
    return load_problems_any(args.problems, limit=args.limit)


def endpoints_from_args(args: argparse.Namespace) -> list[EndpointConfig]:
    """One EndpointConfig per ``--base-url`` (same model and settings)."""
    first = endpoint_from_args(args)
    return [first, *(replace(first, base_url=u) for u in args.base_url[1:])]


def endpoint_from_args(args: argparse.Namespace) -> EndpointConfig:
    """The first ``--base-url``'s endpoint."""
    return EndpointConfig(
        base_url=args.base_url[0], model=args.model, api_key=args.api_key, chat=not args.completions,
        system_prompt=args.system_prompt or None, max_tokens=args.max_tokens, temperature=args.temperature,
        top_p=args.top_p, top_logprobs=args.top_logprobs, max_concurrency=args.concurrency,
        stall_timeout_s=args.stall_timeout, retries=args.retries)


def cmd_run(args: argparse.Namespace) -> int:
    settings = RunSettings(args.strategy, budget=args.n, seed=args.seed, model=args.model, compare=args.compare)
    build(settings.strategy)  # fail fast on a bad name or parameter
    if settings.compare:
        build(settings.compare)
    if args.problem_concurrency < 1:
        raise ConfigError("--problem-concurrency", args.problem_concurrency, "at least 1")
    if args.workers < 1:
        raise ConfigError("--workers", args.workers, "at least 1")
    check_output(args.json, "--json", inputs=[args.problems] if args.problems else [])
    problems = _problems(args)
    endpoints = endpoints_from_args(args)
    quiet = args.json == "-"
    results = ResultsFile(args.out, settings) if args.out else None
    if results is not None and (results.done or results.failed):
        print(f"deepprune run: resuming {args.out}: {len(results.done)} problem(s) already done"
              + (f", {len(results.failed)} failed one(s) to retry" if results.failed else ""), file=sys.stderr)

    def on_row(row: LiveRow) -> None:
        print(live_row_line(row), file=sys.stderr if quiet else sys.stdout, flush=True)

    try:
        if args.workers > 1:
            asyncio.run(_preflight_any(endpoints))
            rows = run_sharded(problems, endpoints, settings, workers=args.workers, results=results,
                               concurrency=args.problem_concurrency, on_row=on_row)
        else:
            rows = asyncio.run(_run(problems, endpoints, settings, results, args.problem_concurrency, on_row))
    except (DeepPruneError, KeyboardInterrupt):
        if results is not None:
            print(f"deepprune run: {len(results.done)} problem(s) are saved in {args.out}; run the same command "
                  "again to resume", file=sys.stderr)
        raise
    finally:
        if results is not None:
            results.close()
    summary = summarize(rows)
    if not quiet:
        print(live_summary_text(summary, settings.strategy))
    if args.json:
        urls: dict[str, Any] = {"base_url": endpoints[0].display_url}
        if len(endpoints) > 1:
            urls["base_urls"] = [e.display_url for e in endpoints]
        write_json({"settings": {**vars_settings(settings), **urls}, **summary.to_dict()}, args.json)
    if summary.problems_failed:
        print(f"deepprune run: {summary.problems_failed} problem(s) failed (traces failed, no answer)"
              + (f"; run the same command again to retry them (saved in {args.out})" if args.out else ""),
              file=sys.stderr)
        return 1
    return 0


def vars_settings(s: RunSettings) -> dict[str, Any]:
    return {"strategy": s.strategy, "budget": s.budget, "seed": s.seed, "model": s.model, "compare": s.compare}


async def _run(problems: list[Problem], endpoints: list[EndpointConfig], settings: RunSettings,
               results: ResultsFile | None, concurrency: int, on_row: Any) -> list[LiveRow]:
    await _preflight_any(endpoints)
    async with LiveSource(endpoints) as source:
        return await run_live(problems, source, settings, results=results, concurrency=concurrency, on_row=on_row)


async def _preflight_any(endpoints: list[EndpointConfig]) -> None:
    """Check the endpoints; with several, one that is down is only logged (the pool routes
    around it), and the run stops only when none answers (with the first one's error)."""
    if len(endpoints) == 1:
        await preflight(endpoints[0])
        return
    errors: list[ClientError] = []
    for e in endpoints:
        try:
            await preflight(e)
        except ClientError as exc:
            log.warning("%s", exc)
            errors.append(exc)
    if len(errors) == len(endpoints):
        raise errors[0]
