"""Probe statistics: how often the probed answer after N tokens equals the trace's final answer.

    python benchmarks/probe_stats.py PROBED_TRACES [--json out.json]

For every cut N recorded in the file (``deepprune probe --at tokens:N``): the traces probed there,
the share whose probe gave any answer, the share equal to the trace's own final answer (over traces
that have one), the share equal to the problem's gold answer, and how that agreement depends on
the probe's confidence (mean logprob above / below the median). Pairs: over pairs of traces of
the same problem probed at N, how well "probes agree" predicts "final answers agree" (precision,
recall, and the AUROC of the probe-agreement score), the judge-figure view of a probe.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from deepprune.core.answers import answers_equal
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("traces")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    ts = load_traces(resolve(args.traces))
    rows = []
    cuts = sorted({p.at for trs in ts.traces.values() for t in trs for p in t.probes})
    for n in cuts:
        probed = answered = same_final = with_final = same_gold = 0
        hi: list[bool] = []
        lps: list[float] = []
        y_true: list[int] = []
        y_score: list[float] = []
        for prob in ts.problems:
            kind = prob.kind
            items = []
            for t in ts.traces_of(prob.id):
                pr = t.probe_at(n)
                if pr is None:
                    continue
                probed += 1
                answered += pr.answer is not None
                if t.answer is not None:
                    with_final += 1
                    ok = pr.answer is not None and answers_equal(t.answer, pr.answer, kind)
                    same_final += ok
                    if pr.logprob is not None:
                        lps.append(pr.logprob)
                        hi.append(ok)
                if prob.gold is not None and pr.answer is not None:
                    same_gold += answers_equal(prob.gold, pr.answer, kind)
                items.append((t.answer, pr.answer))
            for i in range(len(items)):
                for j in range(i + 1, len(items)):
                    (fa, pa), (fb, pb) = items[i], items[j]
                    if fa is None or fb is None:
                        continue
                    y_true.append(int(answers_equal(fa, fb, kind)))
                    y_score.append(float(pa is not None and pb is not None and answers_equal(pa, pb, kind)))
        med = float(np.median(lps)) if lps else 0.0
        conf_hi = [ok for ok, lp in zip(hi, lps, strict=True) if lp >= med]
        conf_lo = [ok for ok, lp in zip(hi, lps, strict=True) if lp < med]
        yt, ys = np.asarray(y_true), np.asarray(y_score)
        tp = int(((yt == 1) & (ys == 1)).sum())
        row = {
            "cut": f"tokens:{n}", "traces_probed": probed, "answered": answered / max(1, probed),
            "equals_final": same_final / max(1, with_final), "equals_gold": same_gold / max(1, probed),
            "equals_final_confident_half": float(np.mean(conf_hi)) if conf_hi else None,
            "equals_final_unconfident_half": float(np.mean(conf_lo)) if conf_lo else None,
            "pairs": len(yt), "pair_precision": tp / max(1, int((ys == 1).sum())),
            "pair_recall": tp / max(1, int((yt == 1).sum())),
            "pair_auroc": float(roc_auc_score(yt, ys)) if 0 < yt.sum() < len(yt) else None,
        }
        rows.append(row)
    probe = ts.header.get("probe", {})
    print(f"{Path(args.traces).name}: traces by {ts.header.get('model')}, probed by {probe.get('model')} "
          f"({len(ts.problems)} problems)")
    print("| cut | traces probed | probe answered | = final answer | = gold | = final, confident half | "
          "= final, other half | pairs | P(final same | probes same) | recall | AUROC |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        def pct(x: float | None) -> str:
            return "—" if x is None else f"{100 * x:.1f}%"
        auroc = "—" if r["pair_auroc"] is None else f"{r['pair_auroc']:.3f}"
        print(f"| {r['cut']} | {r['traces_probed']} | {pct(r['answered'])} | {pct(r['equals_final'])} | "
              f"{pct(r['equals_gold'])} | {pct(r['equals_final_confident_half'])} | "
              f"{pct(r['equals_final_unconfident_half'])} | {r['pairs']} | {pct(r['pair_precision'])} | "
              f"{pct(r['pair_recall'])} | {auroc} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"file": args.traces, "rows": rows, "command": sys.argv}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
