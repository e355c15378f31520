"""Replay time of one problem with very long traces (issue 14 item 11).

Prefix-based strategies (``oracle``, ``deepprune``) watch a trace until its prefix is complete;
a trace with few reasoning words never completes a ``words:25`` prefix, so it is watched to its
end, one progress event every few tokens. Each event used to copy the whole text so far
(``Trace.text_at``): quadratic in the trace length. Reports the replay time of cons, oracle and
deepprune (lexical judge) on 2 traces of ``--mb`` MB each (about 4 characters per token).

    python benchmarks/bench_long_trace.py [--mb 4] [--repeat 1]
"""

from __future__ import annotations

import argparse
import platform
import time

from deepprune.core.types import AnswerKind, FinishReason, Problem, Trace, TraceSet
from deepprune.engine.bench import bench
from deepprune.formats.tracefile import FORMAT


def long_traceset(mb: float) -> TraceSet:
    words = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
             "sigma tau upsilon phi chi psi omega ").split()
    body: list[str] = []
    size = 0
    i = 0
    while size < mb * 1_000_000:
        w = words[i % len(words)] + " "
        body.append(w)
        size += len(w)
        i += 1
    text = "".join(body)
    p = Problem("long", "What is 6 * 7?", "42", AnswerKind.INTEGER, "bench")
    traces = tuple(Trace("long", j, text + f"\\boxed{{{41 + j}}}", len(text) // 4, str(41 + j), FinishReason.STOP)
                   for j in range(2))
    return TraceSet((p,), {"long": traces}, {"format": FORMAT, "model": "bench"}, name="long")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    ts = long_traceset(args.mb)
    t = ts.traces["long"][0]
    print(f"dataset: 1 problem x 2 traces of {len(t.text):,} characters, {t.n_tokens:,} tokens each")
    for spec in ("cons", "oracle", "deepprune:judge=lexical"):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            rows = bench([ts], [spec])
            times.append(time.perf_counter() - t0)
        print(f"{spec:24s} best {min(times):.2f} s  tokens {rows[0].tokens:,.0f}")
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")


if __name__ == "__main__":
    main()
