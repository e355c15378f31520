"""AUROC of the lexical judge on all within-problem pairs of a trace file, per prefix rule.

    python benchmarks/lexical_judge_auroc.py ../shared/data/traces/qwen25_math_instruct_math100_x8.jsonl

Labels: 1 when the two traces' final answers are equivalent (deepprune.core.answers.group_answers).
The proper judge evaluation (held-out problems, ROC plots) is ``deepprune judge eval``.
"""

from __future__ import annotations

import argparse
import itertools

from sklearn.metrics import roc_auc_score

from deepprune.core.answers import group_answers
from deepprune.core.prefix import PrefixWatcher, Truncation
from deepprune.formats.loaders import load_traces
from deepprune.judges.base import Pair
from deepprune.judges.lexical import LexicalJudge


def main(path: str, rules: tuple[str, ...] = ("words:3", "words:5", "words:25", "tokens:64", "tokens:128")) -> None:
    ts = load_traces(path)
    judge = LexicalJudge()
    for rule in rules:
        watcher = PrefixWatcher(Truncation.parse(rule))
        pairs: list[Pair] = []
        labels: list[int] = []
        for p in ts.problems:
            traces = ts.traces_of(p.id)
            groups = group_answers([t.answer for t in traces], p.kind)
            prefixes = []
            for t in traces:
                if rule.startswith("tokens"):
                    prefixes.append(t.text_at(Truncation.parse(rule).k))
                else:
                    prefixes.append(watcher.prefix(t.n_tokens, t.text, finished=True) or "")
            for i, j in itertools.combinations(range(len(traces)), 2):
                pairs.append(Pair(prefixes[i], prefixes[j]))
                labels.append(int(groups[i] == groups[j]))
        scores = judge.predict_proba(pairs)
        print(f"{rule:10s} pairs {len(pairs):6d}  positives {sum(labels) / len(labels):.3f}  "
              f"AUROC {roc_auc_score(labels, scores):.3f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("traces", help="a trace file")
    ap.add_argument("--rules", nargs="+", default=["words:3", "words:5", "words:25", "tokens:64", "tokens:128"])
    args = ap.parse_args()
    main(args.traces, tuple(args.rules))
