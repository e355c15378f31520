"""Charts as PNG/SVG/PDF files: bench Pareto, judge ROC curves, the prefix sweep, the AUROC simulation.

Every chart is drawn on its own :class:`matplotlib.figure.Figure` with an explicit Agg canvas (the
object-oriented API): nothing here touches pyplot's global state or switches the process's
backend, so these functions are safe to call from a notebook or a GUI program.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from deepprune.engine.bench import BenchRow
    from deepprune.engine.judge_sweep import SweepPoint

__all__ = ["new_figure", "plot_auroc_sweep", "plot_pareto", "plot_roc", "plot_sweep", "save_figure"]


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120, tight: bool = True) -> Path:
    """Lay out and write ``fig`` to ``path`` (the format follows the suffix); returns the path."""
    if tight:
        fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=dpi)
    return out


def plot_pareto(rows: Sequence[BenchRow], path: str | Path, sweep_keys: Sequence[str] = ()) -> Path:
    """Accuracy vs generated tokens, one panel per dataset, one point per strategy; points of a
    sweep are joined into a curve (with ``sweep_keys``: rows equal but for those parameters;
    without: rows of the same strategy name); the Pareto front is dashed."""
    datasets = list(dict.fromkeys(r.dataset for r in rows))
    fig = new_figure(6 * len(datasets), 4.5)
    axes = fig.subplots(1, len(datasets), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        sub = [r for r in rows if r.dataset == ds and not r.not_applicable]
        by_name: dict[str, list[BenchRow]] = {}
        for r in sub:
            key = r.strategy.split(":")[0]
            if sweep_keys:
                rest = ",".join(f"{k}={v}" for k, v in r.params.items() if k not in sweep_keys)
                key += f":{rest}" if rest else ""
            by_name.setdefault(key, []).append(r)
        for name, pts in by_name.items():
            xs = [p.tokens_per_problem for p in pts]
            ys = [100 * p.accuracy for p in pts]
            order = sorted(range(len(pts)), key=lambda i: xs[i])
            line = ax.plot([xs[i] for i in order], [ys[i] for i in order], marker="o",
                           linestyle="-" if len(pts) > 1 else "none", label=name[:60])[0]
            for p, x, y in zip(pts, xs, ys, strict=True):
                if p.orderings > 1 and p.tokens_std:
                    ax.errorbar(x, y, xerr=p.tokens_std / p.problems, yerr=100 * p.accuracy_std,
                                color=line.get_color(), alpha=0.4, capsize=2)
                swept = ",".join(f"{k}={p.params[k]}" for k in sweep_keys if k in p.params)
                if swept or len(pts) > 1 or ":" in p.strategy:
                    ax.annotate(swept or p.strategy.split(":", 1)[-1][:28], (x, y), fontsize=6, alpha=0.7,
                                xytext=(3, 3), textcoords="offset points")
        front = []
        best = -1.0
        for r in sorted(sub, key=lambda r: (r.tokens_per_problem, -r.accuracy)):
            if r.accuracy > best:
                front.append(r)
                best = r.accuracy
        ax.plot([r.tokens_per_problem for r in front], [100 * r.accuracy for r in front], "k--",
                alpha=0.3, linewidth=1, label="Pareto front")
        ax.set_title(ds)
        ax.set_xlabel("generated tokens per problem")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_roc(curves: Sequence[tuple[str, Any, Any]], path: str | Path, *, title: str = "",
             groups: Sequence[str] | None = None) -> Path:
    """ROC curves of several judges on one chart (pooled over all pairs; AUROC in the legend).

    ``curves``: ``(name, labels, scores)`` per judge, labels 1 = same final answer. ``groups``:
    the problem of each pair (the same for every curve); the legend then also shows the AUROC
    within problems.
    """
    from deepprune.judges.metrics import auroc, roc_points, within_problem_auroc

    fig = new_figure(5.5, 5)
    ax = fig.subplots()
    for name, y, s in curves:
        fpr, tpr = roc_points(y, s)
        if len(fpr):
            pooled = f"{auroc(y, s):.3f}"
            if groups is not None:
                pooled = f"pooled {pooled}, within problems {within_problem_auroc(y, s, groups):.3f}"
            ax.plot(fpr, tpr, label=f"{name} ({pooled})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.axhline(0.8, color="grey", linestyle="--", linewidth=0.6)
    ax.set_xlabel("false positive rate (different answers called same)")
    ax.set_ylabel("true positive rate (same answers called same)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def plot_sweep(points: Sequence[SweepPoint], path: str | Path) -> Path:
    """AUROC, token reduction and accuracy against the median prefix tokens: one row of three
    panels per dataset, one line per judge (the oracle dashed; cons@K accuracy dotted)."""
    from deepprune.engine.judge_sweep import ORACLE, TRAINED

    datasets = list(dict.fromkeys(p.dataset for p in points))
    fig = new_figure(15, 4.2 * len(datasets))
    axes = fig.subplots(len(datasets), 3, squeeze=False)
    for row, ds in zip(axes, datasets, strict=True):
        sub = [p for p in points if p.dataset == ds]
        names = list(dict.fromkeys(p.judge for p in sub))
        colors = {n: f"C{i}" for i, n in enumerate(names)}
        for name in names:
            pts = sorted((p for p in sub if p.judge == name), key=lambda p: p.prefix_tokens)
            xs = [p.prefix_tokens for p in pts]
            style = dict(color=colors[name], marker="o", linestyle="--" if name == ORACLE else "-")
            label = "oracle (perfect judge)" if name == ORACLE else (
                "trained (CV by problem)" if name == TRAINED else name)
            if name != ORACLE:
                _plot_aurocs(row[0], xs, pts, label, style)
            row[1].plot(xs, [100 * p.reduction for p in pts], label=label, **style)
            row[2].plot(xs, [100 * p.accuracy for p in pts], label=label, **style)
        c = sub[0]
        row[2].axhline(100 * c.cons_accuracy, color="k", linestyle=":", label="cons@K")
        row[0].axhline(0.8, color="grey", linestyle=":", linewidth=1)
        row[0].axhline(0.5, color="grey", linestyle="-", linewidth=0.5)
        titles = ("judge AUROC (partial-trace pairs)", "DeepPrune tokens saved vs cons@K (%)", "accuracy (%)")
        for ax, title in zip(row, titles, strict=True):
            ax.set_xscale("log", base=2)
            ticks = sorted({round(p.prefix_tokens) for p in sub})
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("median prefix length (generated tokens)")
            ax.set_title(f"{ds}: {title}", fontsize=9)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
        row[2].legend(fontsize=7)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, path)


def _plot_aurocs(ax: Any, xs: Sequence[float], pts: Sequence[SweepPoint], label: str,
                 style: dict[str, str]) -> None:
    """AUROC within problems solid, pooled dotted; pooled alone (solid) for points written before
    the within-problem figure existed."""
    within = [p.within_auroc for p in pts]
    if any(w is None for w in within):
        ax.plot(xs, [p.auroc for p in pts], label=label, **style)
        return
    ax.plot(xs, within, label=f"{label}, within problems", **style)
    ax.plot(xs, [p.auroc for p in pts], label=f"{label}, pooled", color=style["color"], marker=".",
            linestyle=":", alpha=0.6)


def plot_auroc_sweep(rows: Sequence[BenchRow], path: str | Path) -> Path:
    """Two panels against judge AUROC: token reduction vs cons@K, and accuracy (cons, oracle as lines)."""
    cons = next(r for r in rows if r.strategy == "cons")
    oracle = next((r for r in rows if r.strategy.startswith("oracle")), None)
    curves: dict[str, list[tuple[float, BenchRow]]] = {}
    for r in rows:
        if r.strategy.startswith("deepprune") and "auroc" in r.params:
            label = ",".join(f"{k}={v}" for k, v in r.params.items() if k not in ("auroc", "judge", "prefix"))
            curves.setdefault(label or "vote=representatives", []).append((float(r.params["auroc"]), r))
    fig = new_figure(10, 4)
    ax1, ax2 = fig.subplots(1, 2)
    for label, pts in curves.items():
        pts.sort(key=lambda x: x[0])
        xs = [a for a, _ in pts]
        ax1.errorbar(xs, [100 * (1 - r.tokens / cons.tokens) for _, r in pts],
                     yerr=[100 * r.tokens_std / cons.tokens for _, r in pts], marker="o", capsize=2,
                     label=f"DeepPrune {label}")
        ax2.errorbar(xs, [100 * r.accuracy for _, r in pts], yerr=[100 * r.accuracy_std for _, r in pts],
                     marker="o", capsize=2, label=f"DeepPrune {label}")
    if oracle is not None:
        ax1.axhline(100 * (1 - oracle.tokens / cons.tokens), color="k", ls=":", label="oracle pruner")
    ax2.axhline(100 * cons.accuracy, color="k", ls="--", label=f"cons@{cons.traces_per_problem:.0f}")
    ax1.set_xlabel("judge AUROC (noisy-oracle)")
    ax1.set_ylabel(f"token reduction vs cons@{cons.traces_per_problem:.0f} (%)")
    ax2.set_xlabel("judge AUROC (noisy-oracle)")
    ax2.set_ylabel("accuracy (%)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"SIMULATION: {cons.dataset} ({cons.problems} problems x {cons.traces_per_problem:.0f} traces, "
                 f"{cons.orderings} orderings)", fontsize=9)
    return save_figure(fig, path, dpi=100)
