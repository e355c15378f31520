"""Judge quality and ablations on held-out problems, one encoder pass per prefix.

For each truncation rule: build all within-problem pairs, split by problem (test fraction 0.3,
seed 0, the same split as ``deepprune judge train``), then

* baselines on the test side: lexical, MiniLM cosine;
* trained-judge variants trained on the train side, scored on the test side, and with 5-fold
  cross-validation by problem (every problem held out once; pooled AUROC over all folds, and the
  AUROC within problems, which never compares two folds' judges):
  focal + 2x oversampling (default), focal without oversampling, cross-entropy with and without
  oversampling, text features only (no MiniLM).

The default variant of every truncation is saved to ``--save-dir/judge-<datasets>-<rule>`` and the test
problems' traces to ``--save-dir/test-<dataset>.jsonl`` so that ``deepprune bench`` can measure
DeepPrune with it on problems the judge never saw.

    python benchmarks/bench_judges.py TRACES... --truncate words:5 tokens:64 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepprune.core.types import TraceSet
from deepprune.formats import load_traces, write_traces
from deepprune.formats.datasets import resolve
from deepprune.judges.crossval import cross_validate
from deepprune.judges.learned import MiniLMJudge, PrefixEncoder
from deepprune.judges.lexical import LexicalJudge
from deepprune.judges.metrics import auroc, evaluate_judge, tnr_at_fnr, within_problem_auroc
from deepprune.judges.pairs import PairDataset, build_pairs
from deepprune.judges.trained import train_judge
from deepprune.judges.training import JudgeTrainingArgs

VARIANTS: dict[str, JudgeTrainingArgs] = {
    "focal+os2 (default)": JudgeTrainingArgs(),
    "features=all (focal+os2)": JudgeTrainingArgs(features="all"),
    "features=similarity (focal+os2)": JudgeTrainingArgs(features="similarity"),
    "focal, no oversampling": JudgeTrainingArgs(oversample=1.0),
    "ce+os2": JudgeTrainingArgs(loss="ce"),
    "ce, no oversampling": JudgeTrainingArgs(loss="ce", oversample=1.0),
    "text features only (focal+os2)": JudgeTrainingArgs(encoder="none"),
    "MiniLM full embeddings (focal+os2)": JudgeTrainingArgs(encoder="minilm-full"),
}


def cv_scores(data: PairDataset, args: JudgeTrainingArgs, encoder: PrefixEncoder,
              folds: int = 5) -> tuple[np.ndarray, float]:
    """Out-of-fold scores (each problem scored by a judge trained without it) and the mean of the
    per-fold AUROCs (:func:`deepprune.judges.crossval.cross_validate`)."""
    cv = cross_validate(data, args, folds=folds, encoder=encoder)
    return cv.scores, cv.fold_mean_auroc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--truncate", nargs="+", default=["words:5"])
    ap.add_argument("--test-fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--save-dir", default="runs/bench_judges")
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--embedding-cache", default="runs/bench_judges/embeddings",
                    help="directory of saved prefix embeddings (<rule>.npz), reused across runs")
    args = ap.parse_args()
    import dataclasses

    import torch

    torch.set_num_threads(args.threads)
    for k, v in VARIANTS.items():
        VARIANTS[k] = dataclasses.replace(v, threads=args.threads)
    logging.basicConfig(level=logging.WARNING)
    sets: list[TraceSet] = [load_traces(resolve(p)) for p in args.traces]
    save = Path(args.save_dir)
    save.mkdir(parents=True, exist_ok=True)
    encoder = PrefixEncoder()
    rows: list[dict[str, Any]] = []
    for rule in args.truncate:
        data = build_pairs(sets, rule)
        train, test = data.split(test_fraction=args.test_fraction, seed=args.seed)
        print(f"== {rule}: all {data.balance()}\n   train {train.balance()}\n   test  {test.balance()}", flush=True)
        texts = [p.text for p in data.prefixes]
        cache = Path(args.embedding_cache) / f"{'+'.join(ts.name for ts in sets)}-{rule.replace(':', '_')}.npz"
        if cache.exists():
            saved = np.load(cache, allow_pickle=False)
            for t, v in zip(saved["texts"].tolist(), saved["emb"], strict=True):
                encoder._cache[t] = v
        t0 = time.perf_counter()
        emb = encoder.encode(texts)
        enc_s = time.perf_counter() - t0
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, texts=np.asarray(texts), emb=emb)
        print(f"   encoded {len(data.prefixes)} prefixes in {enc_s:.1f} s", flush=True)
        for name, judge in [("lexical", LexicalJudge()), ("minilm", MiniLMJudge(encoder=encoder))]:
            rep, _ = evaluate_judge(judge, test, name=name)
            cv = judge.predict_proba(data.pairs())
            rows.append({"truncation": rule, "judge": name, "test_auroc": rep.auroc, "test_tnr": rep.tnr_at_fnr,
                         "test_auroc_within": rep.within_auroc,
                         "cv_auroc": auroc(data.labels, cv), "cv_tnr": tnr_at_fnr(data.labels, cv),
                         "cv_auroc_within": within_problem_auroc(data.labels, cv, data.pair_problems()),
                         "train_s": 0.0, "test_pairs": rep.pairs, "test_neg": rep.negatives})
            print(f"   {name:32s} test {rep.auroc:.3f}  all {rows[-1]['cv_auroc']:.3f}", flush=True)
        for vname in args.variants:
            targs = VARIANTS[vname]
            t0 = time.perf_counter()
            judge = train_judge(train, targs, encoder=encoder)
            train_s = time.perf_counter() - t0
            rep, _ = evaluate_judge(judge, test, name=vname)
            cv, fold_mean = cv_scores(data, targs, encoder, args.folds)
            rows.append({"truncation": rule, "judge": vname, "test_auroc": rep.auroc, "test_tnr": rep.tnr_at_fnr,
                         "test_auroc_within": rep.within_auroc,
                         "cv_auroc": auroc(data.labels, cv), "cv_tnr": tnr_at_fnr(data.labels, cv),
                         "cv_auroc_within": within_problem_auroc(data.labels, cv, data.pair_problems()),
                         "cv_fold_mean_auroc": fold_mean,
                         "train_s": train_s, "test_pairs": rep.pairs, "test_neg": rep.negatives})
            print(f"   {vname:32s} test {rep.auroc:.3f}  cv {rows[-1]['cv_auroc']:.3f} "
                  f"(fold mean {fold_mean:.3f})  "
                  f"(train {train_s:.1f} s)", flush=True)
            if vname == "focal+os2 (default)":
                judge.info_.update(test_fraction=args.test_fraction, split_seed=args.seed,
                                   test_report=rep.to_dict())
                judge.save(save / f"judge-{'+'.join(ts.name for ts in sets)}-{rule.replace(':', '')}")
        for ts in sets:
            keep = [p for p in ts.problems if f"{ts.name}/{p.id}" in set(test.problems)]
            out = save / f"test-{ts.name}.jsonl"
            write_traces(TraceSet(tuple(keep), {p.id: ts.traces_of(p.id) for p in keep}, dict(ts.header),
                                  ts.name), out)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": platform.machine(), "python": platform.python_version(),
                                               "traces": args.traces, "rows": rows}, indent=2) + "\n")
    print("\n| truncation | judge | AUROC (test) | AUROC within problems (test) | TNR@FNR=0.2 (test) | "
          "AUROC (5-fold CV, pooled) | AUROC (CV, fold mean) | AUROC within problems (CV) | TNR (CV) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        fm = f"{r['cv_fold_mean_auroc']:.3f}" if "cv_fold_mean_auroc" in r else "—"
        print(f"| {r['truncation']} | {r['judge']} | {r['test_auroc']:.3f} | {r['test_auroc_within']:.3f} | "
              f"{r['test_tnr']:.3f} | {r['cv_auroc']:.3f} | {fm} | {r['cv_auroc_within']:.3f} | {r['cv_tnr']:.3f} |")


if __name__ == "__main__":
    main()
