"""Replay speed of the pruning strategies at K = 512 (synthetic traces with confidences).

    python benchmarks/bench_strategies_replay.py [--problems 20] [--k 512] [--mean-tokens 1000]

cons@K costs one replay event per trace. A pruning strategy adds the events it ``watch``-es:
DeepPrune with ``tokens:N`` one per trace at the prefix; with ``words:K`` a few per trace until
the K-th reasoning word (each event is at least one token apart, since a marker needs a token);
(CPU time of this process is printed beside wall time: on a shared machine it is the figure to
compare);
online DeepConf one per trace when its window is full and then at the first token where the
window mean could cross the threshold.
"""

from __future__ import annotations

import argparse
import platform
import time

from deepprune.engine.bench import bench
from deepprune.formats.synthetic import synthetic_traceset

SPECS = (
    "cons",
    "esc",
    "adaptive",
    "deepconf:keep=0.1",
    "deepconf-low",
    "deepconf-high",
    "deepconf-high:window=256",
    "deepprune:judge=noisy-oracle,auroc=0.9,prefix=tokens:256",
    "deepprune:judge=noisy-oracle,auroc=0.9,prefix=tokens:256,vote=largest",
    "deepprune:judge=lexical,prefix=words:25",
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--k", type=int, default=512)
    ap.add_argument("--mean-tokens", type=int, default=1000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    ts = synthetic_traceset(args.problems, args.k, mean_tokens=args.mean_tokens, seed=0, with_confs=True)
    print(f"dataset: {args.problems} problems x {args.k} traces, "
          f"{sum(t.n_tokens for v in ts.traces.values() for t in v):,} tokens, with confidences "
          f"(built in {time.perf_counter() - t0:.1f} s)")
    bench([ts], ["cons"])  # warm the answer caches
    for spec in SPECS:
        t0, c0 = time.perf_counter(), time.process_time()
        (r,) = bench([ts], [spec])
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{spec:70s} wall {dt:6.2f} s  cpu {cpu:6.2f} s  accuracy {r.accuracy:.3f}  tokens {r.tokens:12,.0f}  "
              f"judge calls {r.judge_calls:9,.0f}")
    print(f"machine: {platform.machine()} python {platform.python_version()}")


if __name__ == "__main__":
    main()
