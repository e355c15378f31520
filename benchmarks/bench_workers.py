"""``deepprune run --workers N`` against ``deepprune loadgen``: does sharding raise client tokens/s?

    PYTHONPATH=src python benchmarks/bench_workers.py [--workers 1,2] [--problems 16] [--n 8]
        [--tokens 2000] [--top 20] [--repeat 2] [--json out.json]

Starts ``deepprune loadgen`` (its own process, as fast as the client reads), writes a benchmark
file of ``--problems`` questions, and runs the real command line, ``python -m deepprune run
--strategy cons --n K --workers W`` (``--concurrency K``, ``--problem-concurrency 2`` per worker,
so every worker always has streams to read), for each W. Reports the run's wall time, the tokens
its JSON summary counts (checked against ``problems x K x tokens``), tokens per wall second and
the CPU seconds of the run's process tree (parent + workers, from ``RUSAGE_CHILDREN``). Best of
``--repeat`` by wall time. The generator's CPU is not counted, but it shares the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_client_throughput import start_generator  # noqa: E402


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(base_url: str, problems: Path, workers: int, n: int, tokens: int, top: int, tmp: Path) -> dict[str, Any]:
    out = tmp / f"summary_{workers}.json"
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "deepprune", "run", "--base-url", base_url, "--model", "loadgen",
           "--strategy", "cons", "--problems", str(problems), "--n", str(n), "--max-tokens", str(tokens),
           "--top-logprobs", str(top), "--concurrency", str(n), "--problem-concurrency", "2",
           "--workers", str(workers), "--json", str(out)]
    c0, w0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, cpu = time.perf_counter() - w0, children_cpu() - c0
    if proc.returncode != 0:
        raise RuntimeError(f"run --workers {workers} failed: {proc.stderr[-2000:]}")
    summary = json.loads(out.read_text())
    return {"workers": workers, "tokens": summary["tokens"], "wall_s": wall, "cpu_s": cpu,
            "tokens_per_wall_s": summary["tokens"] / wall, "tokens_per_cpu_s": summary["tokens"] / cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    proc, base_url = start_generator("vllm", args.tokens)
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            problems = tmp / "bench.jsonl"
            problems.write_text("".join(json.dumps({"id": f"p{i}", "question": f"question {i}", "answer": "1"}) + "\n"
                                        for i in range(args.problems)))
            for _ in range(args.repeat):  # interleaved, so a load spike on the shared machine hits both
                for w in (int(x) for x in args.workers.split(",")):
                    row = run_once(base_url, problems, w, args.n, args.tokens, args.top, tmp)
                    expected = args.problems * args.n * args.tokens
                    if row["tokens"] != expected:
                        raise RuntimeError(f"--workers {w}: {row['tokens']} tokens, expected {expected}")
                    print(f"--workers {w}: {row['tokens']:,} tokens in {row['wall_s']:.1f} s = "
                          f"{row['tokens_per_wall_s']:,.0f} tokens/s (tree CPU {row['cpu_s']:.1f} s, "
                          f"{row['tokens_per_cpu_s']:,.0f} tokens/CPU-s)", flush=True)
                    rows.append(row)
    finally:
        proc.terminate()
        proc.wait(10)
    best = {}
    for row in rows:
        w = row["workers"]
        if w not in best or row["wall_s"] < best[w]["wall_s"]:
            best[w] = row
    base = best.get(1)
    for w, row in sorted(best.items()):
        ratio = f"  x{row['tokens_per_wall_s'] / base['tokens_per_wall_s']:.2f} of --workers 1" if base else ""
        print(f"best --workers {w}: {row['tokens_per_wall_s']:,.0f} tokens/s{ratio}")
    if args.json:
        args.json.write_text(json.dumps({
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "load_avg": os.getloadavg(), "settings": vars(args) | {"json": str(args.json)}, "rows": rows,
            "best": list(best.values())}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
