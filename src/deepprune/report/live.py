"""One line per live result and the summary of a live run (``deepprune run``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deepprune.core.types import ProblemResult
    from deepprune.engine.liverun import LiveRow, LiveSummary

__all__ = ["live_row_line", "live_summary_text"]


def _mark(o: ProblemResult) -> str:
    if o.failed:
        return " FAILED (traces failed, no answer; rerun with --out to retry)"
    return "" if o.correct is None else (" ok" if o.correct else " WRONG")


def live_row_line(row: LiveRow) -> str:
    """``problem: strategy answer=... tokens=... stopped=i/n wall=...s`` (and the baseline's, if any)."""
    r = row.result
    gold = f" gold={row.gold}" if row.gold is not None else ""
    line = (f"{row.problem_id}: {row.strategy} answer={r.answer}{gold}{_mark(r)} tokens={r.tokens} "
            f"stopped={r.traces_stopped}/{r.traces_launched} wall={r.wall_s:.1f}s")
    if r.traces_failed:
        line += f" failed={r.traces_failed}"
    if row.baseline_result is not None:
        b = row.baseline_result
        line += f" | {row.baseline}: answer={b.answer}{_mark(b)} tokens={b.tokens} wall={b.wall_s:.1f}s"
    return line


def live_summary_text(s: LiveSummary, strategy: str) -> str:
    """Accuracy, tokens, stopped and failed traces of a run; the baseline and the saving when compared."""
    acc = "n/a" if s.accuracy is None else f"{s.accuracy:.3f}"
    lines = [f"{strategy}: {s.problems} problems, accuracy {acc}, {s.tokens} tokens, "
             f"{s.traces_stopped} traces stopped, {s.traces_failed} failed, wall {s.wall_s:.1f}s"]
    if s.problems_failed:
        lines.append(f"{s.problems_failed} problem(s) FAILED (traces failed, no answer; not counted in the "
                     "accuracy): run the same command with --out again to retry them")
    if s.baseline is not None and s.baseline_tokens is not None:
        bacc = "n/a" if s.baseline_accuracy is None else f"{s.baseline_accuracy:.3f}"
        lines.append(f"{s.baseline}: accuracy {bacc}, {s.baseline_tokens} tokens, wall {s.baseline_wall_s:.1f}s")
        if s.reduction is not None:
            lines.append(f"{strategy} used {_compare_tokens(s.reduction)} than {s.baseline}{_compare_wall(s.speedup)}")
    return "\n".join(lines)


def _compare_tokens(reduction: float) -> str:
    """``12.5% fewer tokens`` / ``3.0% more tokens``."""
    return f"{100 * reduction:.1f}% fewer tokens" if reduction >= 0 else f"{-100 * reduction:.1f}% more tokens"


def _compare_wall(speedup: float | None) -> str:
    """``, 1.40x faster`` / ``, 4.86x slower`` (wall clock against the baseline); empty when unknown."""
    if not speedup:
        return ""
    return f", {speedup:.2f}x faster" if speedup >= 1 else f", {1 / speedup:.2f}x slower"
