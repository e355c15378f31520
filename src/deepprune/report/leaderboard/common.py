"""What the leaderboard's HTML and Markdown share: footnotes, tooltips, column titles, command runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import metadata

from deepprune.core.protocol import FAMILIES
from deepprune.core.records import LEADERBOARD_BUDGET
from deepprune.report.leaderboard.board import Cell, Column, Row

__all__ = ["FOOTNOTES", "col_sub", "col_title", "refs_title", "runs", "tooltip", "version"]


FOOTNOTES = (
    ("tokens", "What counts as a token",
     "every generated token of every trace up to the point it stopped: warm-up traces, pruned prefixes and "
     "terminated traces included. Prompt tokens are not counted. Judge calls and judge input tokens are "
     "reported separately (under the tokens, when a strategy uses a judge), never folded in or hidden. "
     "Each column says how tokens were counted (a tokenizer, or a documented approximation)."),
    ("unit", f"Tokens in 1e8 @ {LEADERBOARD_BUDGET}",
     f"the published leaderboard's unit: generated tokens summed over all problems of the benchmark, "
     f"scaled to K = {LEADERBOARD_BUDGET} traces per problem (tokens x {LEADERBOARD_BUDGET} / K / 1e8, "
     "K = traces recorded per problem), in units of 1e8. It is not normalised for the number of problems "
     "or trace length: compare rows within a column, not across columns."),
    ("cons", f"cons@{LEADERBOARD_BUDGET}",
     f"self-consistency: all K traces finish and their final answers are majority-voted (answers grouped "
     f"by mathematical equivalence). The published baseline uses K = {LEADERBOARD_BUDGET}; the measured "
     "`cons` row is cons@K on the K recorded traces, the reference every reduction is measured against."),
    ("latency", "Latency vs cons@K",
     "replay's lock-step clock: every trace of a problem decodes one token per step, as on a server with a "
     "free slot for every trace. A row's latency is its mean number of decode steps per problem until its "
     "decision, over cons@K's on the same traces (cons@K waits for its longest trace): x1.00 is as long as "
     "cons@K, x0.50 half as long; lower is faster. A live server with fewer slots than traces queues them, "
     "so its wall clock follows the tokens generated more than this figure. — where unknown: live runs "
     "(no replay clock), rows without a cons row on the same data or written before bench recorded it, and "
     "the rows reported in papers."),
    ("orderings", "Orderings and spread",
     "replayed results depend on the order in which traces arrive. Each measured figure is the mean over "
     "seeded orderings (ordering r uses seed + r); ± is the population standard deviation across orderings "
     "(shown when more than one ordering was run)."),
    ("family", "Family and paper",
     "how a strategy saves tokens: " + "; ".join(f"{k}: {v}" for k, v in FAMILIES.items()) + ". The paper is the "
     "method the row implements (oracle is a bound, not a method)."),
    ("best", "Marks",
     "bold: fewest tokens in the column; underlined: highest accuracy in the column, among the rows of the "
     "same table that are real systems. Rows marked bound (oracle: knows the recorded final answers) show "
     "what a perfect pruner could reach on the same traces; they are never marked best."),
    ("reported", "Reported in paper",
     "rows copied from the publications cited, not measured by deepprune; their token accounting is not "
     "fully specified and may differ. They form their own table and are never mixed with measured rows."),
)


def tooltip(row: Row, col: Column, c: Cell, commands: Sequence[str]) -> str:
    bits = [f"{row.label} on {col.label}"]
    if c.tokens is not None:
        bits.append(f"{c.tokens:,.0f} generated tokens in total")
    if c.tokens_per_problem is not None:
        bits.append(f"{c.tokens_per_problem:,.1f} per problem")
    if c.reduction is not None:
        bits.append(f"{-100 * c.reduction + 0.0:+.1f}% tokens vs cons")
    if c.latency is not None:
        bits.append(f"latency {c.latency_text} vs cons@K")
    if c.steps_per_problem is not None:
        bits.append(f"{c.steps_per_problem:,.1f} decode steps per problem until the decision")
    if c.judge_calls:
        bits.append(f"{c.judge_calls:,.0f} judge calls, {c.judge_tokens or 0:,.0f} judge tokens")
    if c.orderings:
        bits.append(f"{c.orderings} ordering(s)")
    if c.errors:
        bits.append(f"{c.errors} problem(s) failed")
    if c.command is not None:
        bits.append(f"command [{c.command + 1}]: {commands[c.command]}")
    return "\n".join(bits)


def runs(ns: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive numbers as (first, last) runs: [0, 1, 2, 5] -> [(0, 2), (5, 5)]."""
    out: list[tuple[int, int]] = []
    for n in sorted(set(ns)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def refs_title(commands: Sequence[str], a: int, b: int) -> str:
    return commands[a] if a == b else f"commands {a + 1} to {b + 1} (see Commands and datasets)"


def col_title(c: Column) -> str:
    bits = [c.label]
    if c.problems is not None:
        bits.append(f"{c.problems} problems")
    if c.traces_per_problem is not None:
        bits.append(f"K = {c.traces_per_problem:g} traces per problem")
    if c.token_count:
        bits.append(f"tokens counted as {c.token_count}")
    return ", ".join(bits)


def col_sub(c: Column) -> str:
    """The short line under a column's benchmark name (problems, K)."""
    bits = []
    if c.problems is not None:
        bits.append(f"{c.problems} problems")
    if c.traces_per_problem is not None:
        bits.append(f"K={c.traces_per_problem:g}")
    return " · ".join(bits)


def version() -> str:
    try:
        return metadata.version("deepprune")
    except metadata.PackageNotFoundError:
        return "unknown"
