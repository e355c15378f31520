"""Rendering bench rows: a plain-text table, Markdown, and the accuracy-vs-tokens plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from deepprune.bench import BenchRow

__all__ = ["markdown_table", "plot_pareto", "text_table"]

_HEAD = ["strategy", "accuracy", "tokens (total)", "tokens/problem", "vs cons", "spread (tok)",
         "judge calls", "leaderboard (1e8@512)"]


def _cells(r: BenchRow) -> list[str]:
    if r.not_applicable:
        return [r.strategy, "n/a", "—", "—", "—", "—", "—", "n/a"]
    acc = f"{100 * r.accuracy:.1f}%"
    if r.accuracy_std:
        acc += f" ± {100 * r.accuracy_std:.1f}"
    red = "—" if r.reduction is None else f"{-100 * r.reduction + 0.0:+.1f}%"
    spread = f"± {r.tokens_std:,.0f}" if r.orderings > 1 else "—"
    return [r.strategy, acc, f"{r.tokens:,.0f}", f"{r.tokens_per_problem:,.1f}", red, spread,
            f"{r.judge_calls:,.0f}", f"{r.leaderboard_tokens_1e8:.3g} {100 * r.accuracy:.1f}%"]


def text_table(rows: Sequence[BenchRow]) -> str:
    """One aligned table per dataset."""
    out: list[str] = []
    for ds in dict.fromkeys(r.dataset for r in rows):
        sub = [r for r in rows if r.dataset == ds]
        first = sub[0]
        out.append(f"{ds}: {first.problems} problems x {first.traces_per_problem:.0f} traces, "
                   f"{first.orderings} ordering(s); tokens counted as {first.token_count or 'unknown'}")
        table = [_HEAD] + [_cells(r) for r in sub]
        widths = [max(len(row[i]) for row in table) for i in range(len(_HEAD))]
        for j, row in enumerate(table):
            out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                                 enumerate(zip(row, widths, strict=True))))
            if j == 0:
                out.append("  ".join("-" * w for w in widths))
        out.extend(f"  n/a {r.strategy}: {r.not_applicable}" for r in sub if r.not_applicable)
        out.append("")
    return "\n".join(out)


def markdown_table(rows: Sequence[BenchRow]) -> str:
    """A Markdown table per dataset (the leaderboard style column: tokens in 1e8 at K=512, accuracy)."""
    out: list[str] = []
    for ds in dict.fromkeys(r.dataset for r in rows):
        sub = [r for r in rows if r.dataset == ds]
        out.append(f"**{ds}** ({sub[0].problems} problems x {sub[0].traces_per_problem:.0f} traces, "
                   f"{sub[0].orderings} ordering(s))\n")
        out.append("| " + " | ".join(_HEAD) + " |")
        out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(_HEAD))) + "|")
        for r in sub:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
        out.extend(f"\nn/a {r.strategy}: {r.not_applicable}" for r in sub if r.not_applicable)
        out.append("")
    return "\n".join(out)


def plot_pareto(rows: Sequence[BenchRow], path: str | Path, sweep_keys: Sequence[str] = ()) -> Path:
    """Accuracy vs generated tokens, one panel per dataset, one point per strategy; points of a
    sweep are joined into a curve (with ``sweep_keys``: rows equal but for those parameters;
    without: rows of the same strategy name); the Pareto front is dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r.dataset for r in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5), squeeze=False)
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
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
