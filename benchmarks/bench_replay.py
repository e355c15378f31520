"""Replay speed: cons@K (and the oracle) over a large synthetic-but-realistic dataset.

60 problems x 512 traces, log-normal lengths around 1,000 tokens, a skewed answer distribution
(see deepprune.formats.synthetic). Reports the replay time of cons@512 (target: < 5 s on 2 cores) and
of the oracle pruner, each the best of ``--repeat`` runs, plus the time to build the dataset.

    python benchmarks/bench_replay.py [--problems 60] [--k 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import time

from deepprune.engine.bench import bench
from deepprune.formats.synthetic import synthetic_traceset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=60)
    ap.add_argument("--k", type=int, default=512)
    ap.add_argument("--mean-tokens", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    ts = synthetic_traceset(args.problems, args.k, mean_tokens=args.mean_tokens, seed=0)
    build_s = time.perf_counter() - t0
    print(f"dataset: {args.problems} problems x {args.k} traces = {ts.n_traces} traces, "
          f"{sum(t.n_tokens for v in ts.traces.values() for t in v):,} tokens (built in {build_s:.2f} s)")
    for spec in ("cons", "oracle:prefix=tokens:256"):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            rows = bench([ts], [spec])
            times.append(time.perf_counter() - t0)
        r = rows[0]
        print(f"{spec:28s} first (cold caches) {times[0]:.2f} s  best {min(times):.2f} s  median {sorted(times)[len(times) // 2]:.2f} s  "
              f"accuracy {r.accuracy:.3f}  tokens {r.tokens:,.0f}")
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")


if __name__ == "__main__":
    main()
