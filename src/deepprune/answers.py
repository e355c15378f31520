"""Answer extraction and equivalence: two pure verbs and a canonical key.

* :func:`extract_answer` finds a trace's final answer: the last brace-balanced ``\\boxed{...}``
  (or ``\\fbox{...}``), then fallbacks ("final answer is X", "Answer: X", "the answer is X"),
  and for multiple choice a lone option letter.
* :func:`answers_equal` decides whether a predicted answer equals a gold answer. **Order matters**:
  the first argument is the gold answer, the second the prediction (as in math-verify's
  ``verify(gold, target)``). Math answers go through math-verify (sympy) after a cheap
  normalised-string fast path; multiple-choice answers compare letters.
* :func:`canonical_key` gives the normalised string that voting starts from; equivalent answers
  with different keys (``1/2`` and ``0.5``) are merged by :func:`group_answers`.

math-verify bounds its work with ``signal.alarm``, which only works in the main thread (its
issues #50, #55). Outside the main thread deepprune turns that timeout off and bounds the work
instead by skipping sympy for answers longer than :data:`MAX_SYMPY_CHARS`.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

from deepprune.types import AnswerKind

__all__ = [
    "MAX_SYMPY_CHARS",
    "answers_equal",
    "canonical_key",
    "extract_answer",
    "group_answers",
    "last_boxed",
]

log = logging.getLogger(__name__)

MAX_SYMPY_CHARS = 200
"""Answers longer than this are compared as normalised strings only (no sympy)."""

PARSE_TIMEOUT_S = 3
"""math-verify's own timeout (seconds) for one parse / one verify, in the main thread."""

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_FALLBACKS = [
    re.compile(r"final answer is[:\s]*\$?(.+?)\$?(?:\.\s|\.?$|\n)", re.IGNORECASE),
    re.compile(r"(?:^|\n)\s*\**answer\**\s*[:：]\s*\$?(.+?)\$?\s*(?:\n|$)", re.IGNORECASE),
    re.compile(r"the answer is[:\s]*\$?(.+?)\$?(?:\.\s|\.?$|\n)", re.IGNORECASE),
]
_CHOICE_PATTERNS = [
    re.compile(r"(?:answer|option|choice)\s*(?:is|:)?\s*[:\s]*\(?\**([A-J])\**\)?(?![A-Za-z])", re.IGNORECASE),
    re.compile(r"^\s*\(?([A-J])\)?\s*[.:)]?\s*$", re.MULTILINE),
]
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def last_boxed(text: str) -> str | None:
    """The content of the last brace-balanced ``\\boxed{...}`` / ``\\fbox{...}`` in ``text``.

    >>> last_boxed(r"so \\boxed{\\frac{1}{2}} and finally \\boxed{3}")
    '3'
    >>> last_boxed(r"\\boxed{\\dfrac{3}{8}}")
    '\\\\dfrac{3}{8}'
    """
    starts = [m.end() for m in _BOXED_RE.finditer(text)]
    for start in reversed(starts):
        depth = 1
        i = start
        while i < len(text):
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
            i += 1
        # unbalanced (truncated trace): try the previous box
    return None


def extract_answer(text: str, kind: AnswerKind | str = AnswerKind.MATH) -> str | None:
    """Extract the final answer of a trace, or None when it has none.

    >>> extract_answer(r"... so the total is \\boxed{42}.")
    '42'
    >>> extract_answer("Therefore, the answer is (C).", "choice")
    'C'
    >>> extract_answer("I am not sure.") is None
    True
    """
    kind = AnswerKind(kind)
    boxed = last_boxed(text)
    candidate: str | None = boxed
    if candidate is None:
        for pattern in _FALLBACKS:
            matches = pattern.findall(text)
            if matches:
                candidate = matches[-1].strip().rstrip(".").strip()
                break
    if kind is AnswerKind.CHOICE:
        if candidate is not None:
            letter = _choice_letter(candidate)
            if letter is not None:
                return letter
        for pattern in _CHOICE_PATTERNS:
            matches = pattern.findall(text)
            if matches:
                return str(matches[-1]).upper()
        return None
    if candidate is not None and candidate != "":
        return candidate
    return None


def _choice_letter(answer: str) -> str | None:
    s = _strip_text_macros(answer).strip().strip("$").strip()
    s = s.strip("()[]*. ")
    if len(s) == 1 and s.isalpha():
        return s.upper()
    m = re.match(r"^\(?([A-Ja-j])\)?(?:[.:)\s]|$)", s)
    if m:
        return m.group(1).upper()
    return None


def _strip_text_macros(s: str) -> str:
    return re.sub(r"\\(?:text|textbf|mathrm|mbox|textnormal)\s*\{([^{}]*)\}", r"\1", s)


_UNIT_WORDS = re.compile(
    r"\\?(?:text\{)?\s*(?:degrees?|cm|km|m|meters?|inches|inch|feet|ft|units?|dollars?|cents?|"
    r"hours?|minutes?|seconds?|days?|years?|sq|square)\b\}?\s*(?:\^?\{?2\}?)?$",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=65536)
def canonical_key(answer: str | None, kind: AnswerKind | str = AnswerKind.MATH) -> str:
    """A normalised string for an answer; equal keys mean equal answers.

    Different keys may still be equivalent (``1/2`` vs ``0.5``): :func:`group_answers` merges
    those with math-verify. None (no answer) has the key ``""``.

    >>> canonical_key(r"\\dfrac{1}{2}")
    '\\\\frac{1}{2}'
    >>> canonical_key(r"10{,}000")
    '10000'
    >>> canonical_key(r"\\text{(B)}", "choice")
    'B'
    """
    if answer is None:
        return ""
    kind = AnswerKind(kind)
    if kind is AnswerKind.CHOICE:
        return _choice_letter(answer) or answer.strip().upper()
    s = answer.strip()
    s = s.strip("$").strip()
    if s.startswith("\\(") and s.endswith("\\)"):
        s = s[2:-2]
    s = re.sub(r"\\(?:left|right)\b", "", s)
    s = re.sub(r"\\[,!;: ]", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("{,}", "").replace("\\%", "").replace("%", "")
    s = re.sub(r"\^\s*\{?\\circ\}?", "", s)
    s = s.replace("\\$", "")
    s = _UNIT_WORDS.sub("", s).strip()
    s = _strip_text_macros(s)
    s = re.sub(r"\s+", "", s)
    s = s.rstrip(".")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    if re.fullmatch(r"-?\d+\.\d*?0+", s):  # 12.50 -> 12.5, 3.0 -> 3
        s = s.rstrip("0").rstrip(".")
    if kind is AnswerKind.INTEGER and re.fullmatch(r"-?0*\d+", s):
        s = str(int(s))
    if s.startswith("x=") or s.startswith("y="):
        rest = s[2:]
        if rest and "=" not in rest:
            s = rest
    return s


_PLAIN_INT = re.compile(r"-?\d{1,30}")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@functools.lru_cache(maxsize=65536)
def _parsed(key: str) -> tuple[Any, ...]:
    """math-verify's parse of a canonical key (empty when it cannot be parsed)."""
    if not key or len(key) > MAX_SYMPY_CHARS:
        return ()
    try:
        from math_verify import parse
    except ImportError:  # pragma: no cover - math-verify is a core dependency
        return ()
    timeout = PARSE_TIMEOUT_S if _in_main_thread() else None
    try:
        return tuple(parse(f"${key}$", parsing_timeout=timeout))
    except Exception as exc:  # noqa: BLE001 - math-verify may raise anything from sympy
        log.debug("math-verify could not parse %r: %s", key, exc)
        return ()


@functools.lru_cache(maxsize=262144)
def _keys_equal(gold_key: str, pred_key: str, kind: AnswerKind) -> bool:
    if gold_key == pred_key:
        return True
    if not gold_key or not pred_key:
        return False
    if kind is AnswerKind.CHOICE:
        return False
    if _PLAIN_INT.fullmatch(gold_key) and _PLAIN_INT.fullmatch(pred_key):
        return int(gold_key) == int(pred_key)  # fast path: no sympy for two plain integers
    gold = _parsed(gold_key)
    pred = _parsed(pred_key)
    if not gold or not pred:
        return False
    from math_verify import verify

    timeout = PARSE_TIMEOUT_S if _in_main_thread() else None
    try:
        return bool(verify(list(gold), list(pred), timeout_seconds=timeout))
    except Exception as exc:  # noqa: BLE001
        log.debug("math-verify could not compare %r and %r: %s", gold_key, pred_key, exc)
        return False


def answers_equal(gold: str | None, pred: str | None, kind: AnswerKind | str = AnswerKind.MATH) -> bool:
    """Whether ``pred`` equals ``gold``. Order matters: gold first, prediction second.

    A missing answer (None) equals nothing, not even another missing answer.

    >>> answers_equal(r"\\frac{1}{2}", "0.5")
    True
    >>> answers_equal("B", r"\\text{(B)}", "choice")
    True
    >>> answers_equal("3", None)
    False
    """
    if gold is None or pred is None:
        return False
    kind = AnswerKind(kind)
    return _keys_equal(canonical_key(gold, kind), canonical_key(pred, kind), kind)


def group_answers(answers: Sequence[str | None], kind: AnswerKind | str = AnswerKind.MATH) -> list[int]:
    """Group equivalent answers: one group id per answer, ``-1`` for None.

    Group ids are numbered by first appearance. Each new distinct key is compared with the
    representative key of every existing group (math-verify, cached), so the cost grows with the
    number of *distinct* answers, not with the number of traces.

    >>> group_answers(["1/2", "0.5", "3", None, r"\\frac12"])
    [0, 0, 1, -1, 0]
    """
    kind = AnswerKind(kind)
    reps: list[str] = []
    key_group: dict[str, int] = {}
    out: list[int] = []
    for answer in answers:
        if answer is None:
            out.append(-1)
            continue
        key = canonical_key(answer, kind)
        if key == "":
            out.append(-1)
            continue
        group = key_group.get(key)
        if group is None:
            for g, rep in enumerate(reps):
                if _keys_equal(rep, key, kind):
                    group = g
                    break
            else:
                group = len(reps)
                reps.append(key)
            key_group[key] = group
        out.append(group)
    return out
