"""Benchmark problem files (one JSON object per line) -> Problems with the right answer kind.

Known layouts (by file name, then by fields):

=================  ===================================  ========================
file               fields                                answer kind
=================  ===================================  ========================
aime2024/2025      question, answer                      integer
gsm8k_test         question, answer ("... #### 42")      integer (after ``####``)
math500            problem, answer, unique_id, level     math (prompt prefix stripped)
hmmt / brumo       question, answer                      math
amc23              question, answer                      math
gpqa_diamond       question (with options), answer A-D   choice
=================  ===================================  ========================

Any other file with ``question``/``problem`` and ``answer`` fields gets each problem's kind from
its gold answer (:func:`~deepprune.core.answers.detect_kind`: a word or phrase is ``text``, a yes/no
spelling ``yesno``, anything else ``math``), unless ``kind`` is given.
"""

from __future__ import annotations

from pathlib import Path

from deepprune.core.answers import detect_kind
from deepprune.core.errors import DataError
from deepprune.core.types import AnswerKind, Problem
from deepprune.formats.tracefile import ReadReport, iter_json_lines

__all__ = ["load_problems"]

MATH500_PREFIX = "Return your final response within \\boxed{}. "


_MATH_STEMS = ("math", "hmmt", "brumo", "amc")


def _kind_for(stem: str) -> AnswerKind | None:
    """The kind of a known benchmark file, None for others (detected per problem)."""
    s = stem.lower()
    if s.startswith("aime") or s.startswith("gsm8k"):
        return AnswerKind.INTEGER
    if s.startswith("gpqa"):
        return AnswerKind.CHOICE
    if s.startswith(_MATH_STEMS):
        return AnswerKind.MATH
    return None


def load_problems(path: str | Path, *, kind: AnswerKind | None = None, on_error: str = "raise",
                  report: ReadReport | None = None) -> list[Problem]:
    """Load a benchmark file as Problems (see the module table)."""
    p = Path(path)
    stem = p.name.split(".")[0]
    k = kind or _kind_for(stem)
    out: list[Problem] = []
    seen: set[str] = set()
    for lineno, rec in iter_json_lines(p):
        try:
            prob = _problem(rec, p, lineno, stem, k)
            if prob.id in seen:
                raise DataError(f"duplicate problem id {prob.id!r}", path=p, line=lineno, field="id")
            seen.add(prob.id)
            out.append(prob)
        except DataError as exc:
            if on_error != "skip":
                raise
            if report is not None:
                report.add(str(exc))
    if not out:
        raise DataError("no problems in file", path=p)
    return out


def _problem(rec: object, p: Path, lineno: int, stem: str, kind: AnswerKind | None) -> Problem:
    if not isinstance(rec, dict):
        raise DataError(f"expected a JSON object, got {type(rec).__name__}", path=p, line=lineno)
    qkey = "problem" if "problem" in rec else "question"
    if qkey not in rec:
        raise DataError("missing field (question or problem)", path=p, line=lineno, field="question")
    question = rec[qkey]
    if not isinstance(question, str) or not question.strip():
        raise DataError("expected a non-empty string", path=p, line=lineno, field=qkey)
    if question.startswith(MATH500_PREFIX):
        question = question[len(MATH500_PREFIX):]
    if "answer" not in rec:
        raise DataError("missing field", path=p, line=lineno, field="answer")
    gold = str(rec["answer"]).strip()
    meta: dict[str, object] = {}
    if stem.startswith("gsm8k") or "####" in gold:
        if "####" not in gold:
            raise DataError("GSM8K answer has no '####' final number", path=p, line=lineno, field="answer")
        gold = gold.rsplit("####", 1)[1].strip().replace(",", "")
    for key in ("level", "subject", "options"):
        if key in rec:
            meta[key] = rec[key]
    pid = rec.get("unique_id", rec.get("id"))
    pid = f"{stem}-{lineno - 1}" if pid is None else f"{stem}-{pid}" if not str(pid).startswith(stem) else pid
    return Problem(str(pid), question, gold, kind or detect_kind(gold), source=stem, meta=meta)
