"""Text and Markdown tables: bench rows, judge reports, the prefix sweep."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from deepprune.engine.bench import BenchRow
    from deepprune.engine.judge_sweep import SweepPoint
    from deepprune.judges.metrics import JudgeReport

__all__ = ["judge_table", "markdown_sweep", "markdown_table", "text_table"]

_HEAD = ["strategy", "family", "accuracy", "tokens (total)", "tokens/problem", "vs cons", "spread (tok)",
         "latency", "judge calls", "leaderboard (1e8@512)"]


def _cells(r: BenchRow) -> list[str]:
    family = r.family or "—"
    if r.not_applicable:
        return [r.strategy, family, "n/a", "—", "—", "—", "—", "—", "—", "n/a"]
    acc = f"{100 * r.accuracy:.1f}%"
    if r.accuracy_std:
        acc += f" ± {100 * r.accuracy_std:.1f}"
    red = "—" if r.reduction is None else f"{-100 * r.reduction + 0.0:+.1f}%"
    spread = f"± {r.tokens_std:,.0f}" if r.orderings > 1 else "—"
    latency = "—" if r.latency is None else f"x{r.latency:.2f}"
    return [r.strategy, family, acc, f"{r.tokens:,.0f}", f"{r.tokens_per_problem:,.1f}", red, spread, latency,
            f"{r.judge_calls:,.0f}", f"{r.leaderboard_tokens_1e8:.3g} {100 * r.accuracy:.1f}%"]


def _papers(rows: Sequence[BenchRow]) -> list[tuple[str, str]]:
    """(strategy, paper) of the rows that implement a published method, once per strategy."""
    return list(dict.fromkeys((r.strategy, r.paper) for r in rows if r.paper))


class _OfADataset(Protocol):
    @property
    def dataset(self) -> str: ...


_T = TypeVar("_T", bound=_OfADataset)


def _by_dataset(items: Iterable[_T]) -> dict[str, list[_T]]:
    """Items grouped by dataset, datasets in order of first appearance (one table each)."""
    out: dict[str, list[_T]] = {}
    for x in items:
        out.setdefault(x.dataset, []).append(x)
    return out


def text_table(rows: Sequence[BenchRow]) -> str:
    """One aligned table per dataset."""
    out: list[str] = []
    for ds, sub in _by_dataset(rows).items():
        first = sub[0]
        out.append(f"{ds}: {first.problems} problems x {first.traces_per_problem:.0f} traces, "
                   f"{first.orderings} ordering(s); tokens counted as {first.token_count or 'unknown'}")
        table = [_HEAD] + [_cells(r) for r in sub]
        widths = [max(len(row[i]) for row in table) for i in range(len(_HEAD))]
        for j, row in enumerate(table):
            out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                                 enumerate(zip(row, widths, strict=True))))
            if j == 0:
                out.append("  ".join("-" * w for w in widths))
        out.extend(f"  n/a {r.strategy}: {r.not_applicable}" for r in sub if r.not_applicable)
        out.append("")
    papers = _papers(rows)
    if papers:
        width = max(len(name) for name, _ in papers)
        out += ["papers:"] + [f"  {name.ljust(width)}  {paper}" for name, paper in papers] + [""]
    return "\n".join(out)


def markdown_table(rows: Sequence[BenchRow]) -> str:
    """A Markdown table per dataset (the leaderboard style column: tokens in 1e8 at K=512, accuracy)."""
    out: list[str] = []
    for ds, sub in _by_dataset(rows).items():
        out.append(f"**{ds}** ({sub[0].problems} problems x {sub[0].traces_per_problem:.0f} traces, "
                   f"{sub[0].orderings} ordering(s))\n")
        out.append("| " + " | ".join(_HEAD) + " |")
        out.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(_HEAD))) + "|")
        for r in sub:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
        out.extend(f"\nn/a {r.strategy}: {r.not_applicable}" for r in sub if r.not_applicable)
        out.append("")
    papers = _papers(rows)
    if papers:
        out += ["Papers:", ""] + [f"- `{name}`: {paper}" for name, paper in papers] + [""]
    return "\n".join(out)


def _metric(x: float | None) -> str:
    """A metric to three decimals; "—" when it is missing (None, or nan from an older file)."""
    return "—" if x is None or math.isnan(x) else f"{x:.3f}"


def _share(x: float) -> str:
    """A share as a whole percentage; "—" when nan (missing from an older file)."""
    return "—" if math.isnan(x) else f"{100 * x:.0f}%"


def markdown_sweep(points: Sequence[SweepPoint]) -> str:
    """One Markdown table per dataset: a row per truncation and judge."""
    out: list[str] = []
    for ds, sub in _by_dataset(points).items():
        c = sub[0]
        out.append(f"**{ds}** ({c.problems} problems; cons@K {100 * c.cons_accuracy:.1f}%, "
                   f"{c.cons_tokens_per_problem:,.0f} tokens/problem; {c.orderings} ordering(s))\n")
        out.append("| cut | median prefix tokens | prefix share | finished before cut | whole or answered "
                   "(pairs left out) | judge | AUROC | AUROC within problems | TNR@FNR=0.2 | "
                   "DeepPrune (paper's rule) tokens vs cons | accuracy |")
        out.append("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
        for p in sub:
            au = _metric(p.auroc)
            if p.fold_mean_auroc is not None:
                au += f" (folds {p.fold_mean_auroc:.3f})"
            out.append(f"| {p.truncation} | {p.prefix_tokens:.0f} | {100 * p.prefix_share:.0f}% | "
                       f"{100 * p.finished_before_cut:.0f}% | {_share(p.whole_or_answered)} | "
                       f"{p.judge} | {au} | {_metric(p.within_auroc)} | {_metric(p.tnr_at_fnr)} | "
                       f"{-100 * p.reduction + 0.0:+.1f}% | {100 * p.accuracy:.1f}% |")
        out.append("")
        out.append("DeepPrune (paper's rule): greedy clustering at the judge's threshold (`--tau`), "
                   "no recovery of pruned traces (`deepprune:recover=0`), so the judges' errors show; "
                   "the shipped default resumes pruned traces while the vote is contested.\n")
    return "\n".join(out)


def judge_table(reports: Sequence[JudgeReport]) -> str:
    """An aligned text table of judge reports: AUROC (pooled over all pairs, and ``auroc-within``:
    within problems, the one that matters for DeepPrune), TNR at FNR = 0.2, pair counts, speed."""
    head = ("judge", "AUROC", "auroc-within", "TNR@FNR=.2", "pairs", "pos", "neg", "pairs/s", "traces/s")
    rows = [(r.judge, _metric(r.auroc), _metric(r.within_auroc), _metric(r.tnr_at_fnr), str(r.pairs),
             str(r.positives), str(r.negatives), f"{r.pairs_per_s:.0f}", f"{r.traces_per_s:.0f}")
            for r in reports]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
