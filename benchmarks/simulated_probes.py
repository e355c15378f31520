"""SIMULATED answer probes: a copy of a trace file whose probes are drawn from the final answers.

    python benchmarks/simulated_probes.py TRACES OUT --at 64 [--accuracy 1.0] [--seed 0]

Every trace longer than the cut gets one probe at ``--at`` tokens: with probability ``--accuracy``
its own final answer (None when the trace has none), otherwise the final answer of another trace
of the same problem with a different answer (or None when there is none). This is a *simulation*
of probe quality, the probe analogue of the ``noisy-oracle`` judge: it says how good probes would
have to be for ``deepprune:probe=on`` to pay off; real probes come from ``deepprune probe``.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from deepprune.core.answers import answers_equal
from deepprune.core.types import AnswerProbe, Trace, TraceSet
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces
from deepprune.formats.tracefile import write_traces


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("traces")
    ap.add_argument("out")
    ap.add_argument("--at", type=int, default=64)
    ap.add_argument("--accuracy", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    ts = load_traces(resolve(args.traces))
    rng = np.random.default_rng(args.seed)
    out: dict[str, tuple[Trace, ...]] = {}
    for p in ts.problems:
        trs = ts.traces_of(p.id)
        new = []
        for t in trs:
            if t.n_tokens <= args.at:
                new.append(t)
                continue
            ans = t.answer
            if rng.random() >= args.accuracy:
                others = [o.answer for o in trs if o.answer is not None
                          and (t.answer is None or not answers_equal(o.answer, t.answer, p.kind))]
                ans = others[int(rng.integers(len(others)))] if others else None
            new.append(dataclasses.replace(t, probes=(AnswerProbe(args.at, ans, None, 4),)))
        out[p.id] = tuple(new)
    header = {**ts.header, "format": "deepprune/traces-v1",
              "probe": {"model": f"SIMULATED (final answers, accuracy {args.accuracy})", "at": [args.at]}}
    write_traces(TraceSet(ts.problems, out, header, ts.name), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
