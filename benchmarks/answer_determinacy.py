"""How much of a trace's final answer is decided by its first N tokens? (issue 10: the judge ceiling)

    # 1. continue recorded prefixes with the trace's own model and sampling (resumable, appends)
    python benchmarks/answer_determinacy.py run default --base-url http://127.0.0.1:8077/v1 \
        --model qwen2.5-coder-0.5b-instruct --at 64 --traces-per-problem 4 --continuations 3 \
        --out determinacy.jsonl
    # 2. the figures
    python benchmarks/answer_determinacy.py report default determinacy.jsonl [--json out.json]

The ``oracle`` strategy merges two traces when their *recorded* final answers agree. But a trace
is sampled: from the same 64-token prefix the model could have ended elsewhere. Whatever a judge
reads in the prefixes, it can only predict the *distribution* of where each trace is heading,
never the realised draw. This script measures that distribution: for each of the first
``--traces-per-problem`` traces of every problem it samples ``--continuations`` fresh
continuations of the trace's first N generated tokens (the trace's own request, the prefix as a
trailing assistant message to continue, the recorded temperature / top-p, at most the recorded
token cap minus N new tokens, a seed of its own) and extracts each continuation's final answer.

Report:

* **determinacy**: the share of fresh continuations whose final answer equals the trace's
  recorded one (math-verify equivalence; two answer-less ends count as the same, as in the
  oracle), beside the share for a trace *from scratch* (two recorded traces of the same problem
  agreeing), per dataset half;
* **continuation judge**: for every pair of continued traces of a problem, the score
  ``sum_a p_i(a) p_j(a)`` from ``c`` fresh continuations each (``p``: the continuations' answer
  shares) and its AUROC against the pair's oracle label (recorded answers equal), for
  ``c = 1 .. C``. As ``c`` grows this approaches the Bayes judge, ``P(same end | both prefixes)``,
  which bounds the AUROC of *any* judge of the two prefixes (Neyman-Pearson); beside it the
  lexical judge on the same pairs. The continuation judge is a measuring device, not a judge to
  use: it costs more tokens than the traces it would prune.

Output lines of ``run`` (JSONL, one per continuation, written as each ends; rerunning the same
command skips what is there): ``{"problem_id", "index", "at", "j", "seed", "answer",
"n_tokens", "finish_reason"}``. Work is ordered by ``j`` first, so a stopped run has the same
number of continuations for (almost) every trace.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepprune.core.answers import extract_answer, group_answers
from deepprune.core.seeds import trace_seed
from deepprune.core.types import Trace
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces
from deepprune.judges.base import Pair
from deepprune.judges.metrics import auroc, within_problem_auroc
from deepprune.judges.registry import make_judge
from deepprune.sources.openai_client import EndpointConfig, StreamClient, StreamEnd, TokenChunk

SEED_BASE = 7_000_000
"""Continuation ``j`` of a trace uses ``trace_seed(SEED_BASE + j, problem, index)``: never a
collection seed (those use the base seed 0)."""


@dataclass(frozen=True)
class Work:
    trace: Trace
    question: str
    j: int


def _key(problem_id: str, index: int, at: int, j: int) -> tuple[str, int, int, int]:
    return (problem_id, index, at, j)


def _done(out: Path) -> set[tuple[str, int, int, int]]:
    have: set[tuple[str, int, int, int]] = set()
    if not out.exists():
        return have
    for n, line in enumerate(out.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            have.add(_key(r["problem_id"], r["index"], r["at"], r["j"]))
        except (ValueError, KeyError) as exc:
            raise SystemExit(f"{out}:{n}: not a line of this script ({exc}); use another --out") from exc
    return have


async def _run(args: argparse.Namespace) -> int:
    ts = load_traces(resolve(args.traces))
    sampling = ts.header.get("sampling", {}) if isinstance(ts.header, dict) else {}
    temperature = args.temperature if args.temperature is not None else float(sampling.get("temperature", 0.8))
    top_p = args.top_p if args.top_p is not None else float(sampling.get("top_p", 0.95))
    cap = args.max_tokens if args.max_tokens is not None else int(sampling.get("max_tokens", 512))
    system_prompt = ts.header.get("system_prompt") if isinstance(ts.header, dict) else None
    cfg = EndpointConfig(base_url=args.base_url, model=args.model, temperature=temperature, top_p=top_p,
                         max_tokens=max(1, cap - args.at), top_logprobs=0,
                         max_concurrency=args.concurrency, stall_timeout_s=600.0,
                         **({"system_prompt": system_prompt} if system_prompt else {}))
    out = Path(args.out)
    have = _done(out)
    problems = ts.problems[: args.limit] if args.limit else ts.problems
    work: list[Work] = []
    for j in range(args.continuations):
        for p in problems:
            for t in ts.traces_of(p.id)[: args.traces_per_problem]:
                if t.n_tokens <= args.at:
                    continue  # whole at the cut: nothing to continue (counted in the report)
                if _key(p.id, t.index, args.at, j) not in have:
                    work.append(Work(t, p.question, j))
    kinds = {p.id: p.kind for p in problems}
    print(f"{len(work)} continuations to run ({len(have)} already in {out}); "
          f"temperature {temperature}, top-p {top_p}, at most {cfg.max_tokens} new tokens", file=sys.stderr)
    sem = asyncio.Semaphore(args.concurrency)
    done = 0

    async def one(w: Work, client: StreamClient, fh: Any) -> None:
        nonlocal done
        seed = trace_seed(SEED_BASE + w.j, w.trace.problem_id, w.trace.index)
        prefix = w.trace.text_at(args.at)
        text = ""
        n = 0
        reason = "unknown"
        async with sem:
            async for item in client.stream(w.question, seed=seed, prefill=prefix):
                if isinstance(item, TokenChunk):
                    text += item.text
                    n += item.n
                elif isinstance(item, StreamEnd):
                    reason = item.finish_reason.value
        answer = extract_answer(prefix + text, kinds[w.trace.problem_id])
        fh.write(json.dumps({"problem_id": w.trace.problem_id, "index": w.trace.index, "at": args.at,
                             "j": w.j, "seed": seed, "answer": answer, "n_tokens": n,
                             "finish_reason": reason}) + "\n")
        fh.flush()
        done += 1
        if done % 20 == 0:
            print(f"{done}/{len(work)}", file=sys.stderr)

    with out.open("a") as fh:
        async with StreamClient(cfg) as client:
            await asyncio.gather(*(one(w, client, fh) for w in work))
    return 0


def _shares(groups: Sequence[int]) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for g in groups:
        out[g] += 1 / len(groups)
    return out


@dataclass(frozen=True)
class PairRow:
    """One pair of continued traces of a problem."""

    half: str
    problem_id: str
    label: int
    """1 when the two recorded final answers are equivalent (the oracle's merge)."""
    continuations: tuple[float, ...]
    """The continuation judge's score with 1, 2, ... continuations per trace."""
    lexical: float
    prior: float
    """The problem's from-scratch agreement (two recorded traces of it agree): a score that reads
    no prefix, to show how much of a pooled AUROC is telling easy problems from hard ones."""


def within_auroc(pairs: Sequence[PairRow], score: Any) -> float:
    """AUROC over (positive, negative) comparisons *within* a problem only, pooled over problems
    (:func:`~deepprune.judges.metrics.within_problem_auroc`): what matters for clustering one
    problem's traces (a pooled AUROC also rewards ranking a concentrated problem's pairs above a
    diffuse one's). nan when no problem has both classes."""
    if not any(r.label for r in pairs) or all(r.label for r in pairs):
        return float("nan")
    return within_problem_auroc([r.label for r in pairs], [score(r) for r in pairs],
                                [r.problem_id for r in pairs])


def bootstrap_within(pairs: Sequence[PairRow], score: Any, *, resamples: int = 1000,
                     seed: int = 0) -> tuple[float, float]:
    """95% interval of :func:`within_auroc` over problems resampled with replacement."""
    by_problem: dict[str, list[PairRow]] = defaultdict(list)
    for r in pairs:
        by_problem[r.problem_id].append(r)
    keys = sorted(by_problem)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(resamples):
        pick = rng.integers(0, len(keys), len(keys))
        sample = [dataclasses.replace(r, problem_id=f"{k}#{n}") for n, k in enumerate(pick)
                  for r in by_problem[keys[k]]]
        v = within_auroc(sample, score)
        if not np.isnan(v):
            vals.append(v)
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def report(traces: str, runs: Sequence[str], at: int, *, resamples: int = 0) -> dict[str, Any]:
    ts = load_traces(resolve(traces))
    conts: dict[tuple[str, int], dict[int, str | None]] = defaultdict(dict)
    for path in runs:
        for line in Path(path).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r["at"] == at:
                    conts[(r["problem_id"], r["index"])][r["j"]] = r["answer"]
    lexical = make_judge("lexical")
    rows: dict[str, dict[str, Any]] = {}
    pairs: list[PairRow] = []
    det: dict[str, list[float]] = defaultdict(list)
    scratch: dict[str, list[float]] = defaultdict(list)
    n_c = min((len(v) for v in conts.values()), default=0)
    for p in ts.problems:
        half = p.id.split("-")[0]
        trs = ts.traces_of(p.id)
        mine = [t for t in trs if (p.id, t.index) in conts]
        if not mine:
            continue
        # one grouping per problem: recorded answers of all traces + every continuation
        recorded = [t.answer for t in trs]
        extra = [(t.index, j, a) for t in mine for j, a in sorted(conts[(p.id, t.index)].items()) if j < n_c]
        groups = group_answers(recorded + [a for _, _, a in extra], p.kind)
        g_rec = {t.index: groups[i] for i, t in enumerate(trs)}
        g_cont: dict[int, list[int]] = defaultdict(list)
        for (idx, _, _), g in zip(extra, groups[len(trs):], strict=True):
            g_cont[idx].append(g)
        for t in mine:
            det[half].append(float(np.mean([g == g_rec[t.index] for g in g_cont[t.index]])))
        # from scratch: another recorded trace of the problem ends with this one's answer
        agree = [float(np.mean([g_rec[u.index] == g_rec[t.index] for u in trs if u.index != t.index]))
                 for t in trs]
        scratch[half].extend(a for t, a in zip(trs, agree, strict=True) if (p.id, t.index) in conts)
        prior = float(np.mean(agree))
        for a, b in itertools.combinations(mine, 2):
            scores = []
            for c in range(1, n_c + 1):
                sa, sb = _shares(g_cont[a.index][:c]), _shares(g_cont[b.index][:c])
                scores.append(sum(v * sb.get(k, 0.0) for k, v in sa.items()))
            lex = float(lexical.predict_proba([Pair(a.text_at(at), b.text_at(at))])[0])
            pairs.append(PairRow(half, p.id, int(g_rec[a.index] == g_rec[b.index]), tuple(scores), lex, prior))
    for half in [*det, "all"]:
        halves = list(det) if half == "all" else [half]
        mine_pairs = [r for r in pairs if r.half in halves]
        y = [r.label for r in mine_pairs]
        row: dict[str, Any] = {
            "traces": sum(len(det[h]) for h in halves),
            "continuations_per_trace": n_c,
            "determinacy": float(np.mean([v for h in halves for v in det[h]])),
            "from_scratch": float(np.mean([v for h in halves for v in scratch[h]])),
            "pairs": len(y), "positives": int(sum(y)),
            "auroc_problem_prior": auroc(y, [r.prior for r in mine_pairs]),
            "auroc_lexical": auroc(y, [r.lexical for r in mine_pairs]),
            "within_lexical": within_auroc(mine_pairs, lambda r: r.lexical),
        }
        for c in range(1, n_c + 1):
            row[f"auroc_continuations_{c}"] = auroc(y, [r.continuations[c - 1] for r in mine_pairs])
            row[f"within_continuations_{c}"] = within_auroc(mine_pairs, lambda r, c=c: r.continuations[c - 1])
        if resamples:
            row["within_lexical_ci95"] = bootstrap_within(mine_pairs, lambda r: r.lexical, resamples=resamples)
            row[f"within_continuations_{n_c}_ci95"] = bootstrap_within(
                mine_pairs, lambda r: r.continuations[n_c - 1], resamples=resamples)
        rows[half] = row
    return {"traces": traces, "at": at, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("traces")
    r.add_argument("--base-url", required=True)
    r.add_argument("--model", required=True)
    r.add_argument("--at", type=int, default=64)
    r.add_argument("--traces-per-problem", type=int, default=4)
    r.add_argument("--continuations", type=int, default=3)
    r.add_argument("--limit", type=int, default=None)
    r.add_argument("--concurrency", type=int, default=16)
    r.add_argument("--temperature", type=float, default=None)
    r.add_argument("--top-p", type=float, default=None)
    r.add_argument("--max-tokens", type=int, default=None, help="the recorded cap (default: the file's)")
    r.add_argument("--out", required=True)
    s = sub.add_parser("report")
    s.add_argument("traces")
    s.add_argument("runs", nargs="+")
    s.add_argument("--at", type=int, default=64)
    s.add_argument("--json", default=None)
    s.add_argument("--bootstrap", type=int, default=1000,
                   help="problem resamples for the within-problem AUROC intervals (0: none)")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        return asyncio.run(_run(args))
    res = report(args.traces, args.runs, args.at, resamples=args.bootstrap)
    n_c = res["rows"]["all"]["continuations_per_trace"]
    cols = ["traces", "determinacy", "from_scratch", "pairs", "positives", "auroc_problem_prior",
            "auroc_lexical", *(f"auroc_continuations_{c}" for c in range(1, n_c + 1)),
            "within_lexical", *(f"within_continuations_{c}" for c in range(1, n_c + 1))]
    print("| half | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for half, row in res["rows"].items():
        print(f"| {half} | " + " | ".join(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
                                          for c in cols) + " |")
    for half, row in res["rows"].items():
        for k, v in row.items():
            if k.endswith("_ci95"):
                print(f"{half}: {k} [{v[0]:.3f}, {v[1]:.3f}]")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
