"""Answer extraction and equivalence: two pure verbs and a canonical key.

* :func:`extract_answer` finds a trace's final answer: the last brace-balanced ``\\boxed{...}``
  (or ``\\fbox{...}``), then fallbacks ("final answer is X", "Answer: X", "the answer is X"),
  for text and yes/no answers also "... answer: X" anywhere and a last ``**X**``, and for
  multiple choice a lone option letter.
* :func:`answers_equal` decides whether a predicted answer equals a gold answer. **Order matters**:
  the first argument is the gold answer, the second the prediction (as in math-verify's
  ``verify(gold, target)``). Math answers go through math-verify (sympy) after a cheap
  normalised-string fast path; multiple-choice answers compare letters; text answers compare
  normalised strings (:func:`text_key`) and yes/no answers their canonical ``yes`` / ``no``
  (:func:`yesno_key`) — neither ever goes through math-verify, which would read ``yajo`` and
  ``ojay`` as the same product of symbols.
* :func:`canonical_key` gives the normalised string that voting starts from; equivalent answers
  with different keys (``1/2`` and ``0.5``) are merged by :func:`group_answers`. For text and
  yes/no answers equal keys are the only equivalence.
* :func:`detect_kind` guesses a problem's :class:`~deepprune.core.types.AnswerKind` from its gold
  answer (a word or phrase is never math); :func:`parse_kind` validates a kind name.

math-verify bounds its work with ``signal.alarm``, which only works in the main thread (its
issues #50, #55). Outside the main thread deepprune turns that timeout off and bounds the work
instead by skipping sympy for answers longer than :data:`MAX_SYMPY_CHARS`.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Sequence
from typing import Any

from deepprune.core.errors import ConfigError
from deepprune.core.types import AnswerKind

__all__ = [
    "KINDS",
    "MAX_SYMPY_CHARS",
    "answers_equal",
    "canonical_key",
    "detect_kind",
    "extract_answer",
    "group_answers",
    "last_boxed",
    "parse_kind",
    "text_key",
    "yesno_key",
]

log = logging.getLogger(__name__)

MAX_SYMPY_CHARS = 200
"""Answers longer than this are compared as normalised strings only (no sympy)."""

PARSE_TIMEOUT_S = 3
"""math-verify's own timeout (seconds) for one parse / one verify, in the main thread."""

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE_RE = re.compile(r"[{}]")
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
# text and yes/no answers only, after the fallbacks above: "Final Answer: X" anywhere in a line,
# then the last **X** (markdown bold) span
_TEXT_FALLBACKS = [
    re.compile(r"answer\**\s*[:：]\s*(.+?)\s*(?:\n|$)", re.IGNORECASE),
    re.compile(r"\*\*([^*\n]{1,200}?)\*\*"),
]

KINDS = tuple(k.value for k in AnswerKind)
"""The answer kind names: math, integer, choice, text, yesno."""


def parse_kind(value: AnswerKind | str, field: str = "kind") -> AnswerKind:
    """An :class:`AnswerKind` from its name (any case, surrounding spaces ignored).

    A bad name raises :class:`~deepprune.core.errors.ConfigError` naming ``field`` (the flag or
    parameter it came from) and the allowed values.

    >>> parse_kind("Text")
    <AnswerKind.TEXT: 'text'>
    >>> parse_kind("words", "--kind")
    Traceback (most recent call last):
    ...
    deepprune.core.errors.ConfigError: --kind must be one of math, integer, choice, text, yesno, got 'words'
    """
    if isinstance(value, AnswerKind):
        return value
    try:
        return AnswerKind(str(value).strip().lower())
    except ValueError:
        raise ConfigError(field, value, "one of " + ", ".join(KINDS)) from None


def last_boxed(text: str) -> str | None:
    """The content of the last brace-balanced ``\\boxed{...}`` / ``\\fbox{...}`` in ``text``.

    >>> last_boxed(r"so \\boxed{\\frac{1}{2}} and finally \\boxed{3}")
    '3'
    >>> last_boxed(r"\\boxed{\\dfrac{3}{8}}")
    '\\\\dfrac{3}{8}'
    """
    boxes = list(_BOXED_RE.finditer(text))
    # From the last box back. A box still open where a later (unbalanced) box begins can never
    # close — from there on, the braces never fall below that later box's level — so each box
    # is scanned only up to the next one: linear in the text, however many boxes are unbalanced.
    end = len(text)
    for m in reversed(boxes):
        start = m.end()
        depth = 1
        for b in _BRACE_RE.finditer(text, start, end):
            if b.group() == "{":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return text[start:b.start()].strip()
        end = m.start()  # unbalanced (truncated trace): try the previous box
    return None


def extract_answer(text: str, kind: AnswerKind | str = AnswerKind.MATH) -> str | None:
    """Extract the final answer of a trace, or None when it has none.

    Every kind: the last ``\\boxed{}``, else the last "final answer is X", else the last line
    "Answer: X", else the last "the answer is X". Then by kind:

    * ``choice``: the option letter of that candidate, else a lone option letter in the text;
    * ``text`` / ``yesno``: when nothing matched yet, the last "... answer: X" anywhere in a line
      ("**Final Answer:** X"), else the last ``**X**``; the candidate loses surrounding markdown
      emphasis, quotes, ``$``, ``\\text{}`` wrappers and a final period;
    * ``yesno`` also: a candidate that starts with a yes/no spelling gives that word ("Yes, because
      ..." -> ``Yes``); with no candidate, the first word of the trace or of its last line when it
      is one (a reply that starts "No, ...").

    >>> extract_answer(r"... so the total is \\boxed{42}.")
    '42'
    >>> extract_answer("Therefore, the answer is (C).", "choice")
    'C'
    >>> extract_answer("I am not sure.") is None
    True
    >>> extract_answer("Putting them together: **ojay**", "text")
    'ojay'
    >>> extract_answer("The answer is: No, since 7 is odd.", "yesno")
    'No'
    """
    kind = parse_kind(kind)
    boxed = last_boxed(text)
    candidate: str | None = boxed
    if candidate is None:
        for pattern in _FALLBACKS:
            matches = pattern.findall(text)
            if matches:
                candidate = matches[-1].strip().rstrip(".").strip()
                break
    if kind is AnswerKind.TEXT or kind is AnswerKind.YESNO:
        return _extract_text(text, candidate, kind)
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


def _extract_text(text: str, candidate: str | None, kind: AnswerKind) -> str | None:
    """Text / yes-no extraction after the shared box and fallbacks found ``candidate`` (or not)."""
    if candidate is None:
        for pattern in _TEXT_FALLBACKS:
            matches = pattern.findall(text)
            if matches:
                candidate = matches[-1]
                break
    cleaned = _clean_text_answer(candidate) if candidate is not None else ""
    if kind is AnswerKind.YESNO:
        # "Yes, because ..." -> "Yes"; with no marked answer, a reply that starts with yes/no
        word = _leading_yesno(cleaned) if cleaned else _leading_yesno(text) or _leading_yesno(
            text.strip().rsplit("\n", 1)[-1])
        if word is not None:
            return word
    return cleaned or None


def _clean_text_answer(answer: str) -> str:
    """Surrounding whitespace, markdown emphasis, quotes and a final period off an answer."""
    s = answer.strip()
    previous = None
    while s != previous:
        previous = s
        s = _TEXT_MACRO_RE.sub(r"\1", s)
        s = s.strip().strip("*_`\"'“”‘’«»").strip()
        s = s.strip("$").strip()
        if s.endswith(".") and not s.endswith(".."):
            s = s[:-1]
    return s


_WORD_RE = re.compile(r"[^\W_]+")


def _leading_yesno(s: str) -> str | None:
    """The first word of ``s`` as written when it is a yes/no spelling, else None."""
    m = _WORD_RE.search(_strip_text_macros(s))
    if m is None or m.group(0).casefold() not in _YESNO_WORDS:
        return None
    return m.group(0)


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


_TEXT_MACRO_RE = re.compile(r"\\(?:text|textbf|textit|textrm|textsf|texttt|textnormal|emph|mathrm|mathbf|mathit"
                            r"|mathsf|mathtt|mbox|operatorname)\s*\{([^{}]*)\}")
_ARTICLE_RE = re.compile(r"^(?:a|an|the)\s+")
_EDGE_EXTRA = frozenset("`~^|")
_YESNO_WORDS = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}


def _is_edge(ch: str) -> bool:
    return ch.isspace() or ch in _EDGE_EXTRA or unicodedata.category(ch).startswith("P")


def _strip_edges(s: str) -> str:
    start, end = 0, len(s)
    while start < end and _is_edge(s[start]):
        start += 1
    while end > start and _is_edge(s[end - 1]):
        end -= 1
    return s[start:end]


@functools.lru_cache(maxsize=65536)
def text_key(answer: str) -> str:
    """The normalised form under which two text answers are equal (exact match after it).

    The rules, in order:

    1. Unicode NFKC normalisation (full-width letters, ligatures and compatibility forms become
       their plain forms); accents are kept (``café`` and ``cafe`` differ).
    2. LaTeX text wrappers are unwrapped (``\\text{X}``, ``\\textbf{X}``, ``\\mathrm{X}``,
       ``\\mbox{X}``, ``\\operatorname{X}`` and the like, innermost first) and ``$`` signs and
       ``\\(`` ``\\)`` delimiters are dropped, so ``\\boxed{\\text{Paris}}`` reads ``Paris``.
    3. Case is folded (``str.casefold``).
    4. Surrounding whitespace and punctuation are stripped: every leading and trailing character
       that is whitespace, Unicode punctuation (categories P*: ``. , ; : ! ? ' " ( ) [ ] { } - _ *
       / \\ # % & @`` and typographic quotes) or one of ``` ` ~ ^ | ```. Punctuation *inside*
       the answer is kept (``St. Louis`` and ``St Louis`` differ; ``rock-n-roll`` keeps its
       hyphens). Mathematical symbols such as ``+`` are not punctuation (``C++`` stays ``c++``).
    5. One leading article is dropped: ``a``, ``an`` or ``the`` followed by whitespace, unless
       nothing would remain; then rule 4 runs again (``the "Eiffel Tower"`` -> ``eiffel tower``).
       Articles elsewhere are kept (``tower of the winds``).
    6. Runs of whitespace inside the answer become one space.

    Nothing else is merged: two answers whose letters differ in any position (``yajo`` and
    ``ojay``) never compare equal.

    >>> text_key("  The Eiffel Tower. ")
    'eiffel tower'
    >>> text_key(r"\\text{**New   York**}")
    'new york'
    >>> text_key("yajo") == text_key("ojay")
    False
    """
    s = unicodedata.normalize("NFKC", answer)
    previous = None
    while s != previous:
        previous = s
        s = _TEXT_MACRO_RE.sub(r"\1", s)
    s = s.replace("\\(", " ").replace("\\)", " ").replace("$", " ")
    s = _strip_edges(s.casefold())
    rest = _ARTICLE_RE.sub("", s, count=1)
    rest = _strip_edges(rest)
    if rest:
        s = rest
    return " ".join(s.split())


def yesno_key(answer: str) -> str:
    """``yes`` / ``no`` for a yes/no spelling, else the answer's :func:`text_key`.

    The spellings are ``yes`` and ``true`` (-> ``yes``), ``no`` and ``false`` (-> ``no``), in any
    case, after the :func:`text_key` rules (so ``"Yes."``, ``TRUE``, ``**No**``,
    ``\\text{false}`` all count). Other answers ("maybe", "yes and no") keep their text key and so
    never equal ``yes`` or ``no``.

    >>> [yesno_key(a) for a in ("Yes", "yes.", "TRUE", "No", "false", "maybe")]
    ['yes', 'yes', 'yes', 'no', 'no', 'maybe']
    """
    key = text_key(answer)
    return _YESNO_WORDS.get(key, key)


_MATH_MARK_RE = re.compile(r"[\\$^_{}=+*/<>|%−×÷·√π∞≤≥≠±]|\d[^\W\d_]|[^\W\d_]\d")
_LETTER_RUN_RE = re.compile(r"[^\W\d_]{2,}")
_MATH_WORDS = frozenset(
    "pi e inf infty infinity sqrt sin cos tan cot sec csc log ln exp mod deg degree degrees cm mm km m "
    "meter meters metre metres inch inches ft foot feet yd yard yards mile miles mph kg g mg lb lbs pound "
    "pounds oz unit units dollar dollars cent cents percent hour hours hr hrs minute minutes min mins "
    "second seconds sec secs day days week weeks month months year years sq square cubic".split()
)


def detect_kind(gold: str | None) -> AnswerKind:
    """Guess a problem's answer kind from its gold answer (for data that does not say).

    * no gold, or an empty one: ``math`` (the historical default);
    * a yes/no spelling (:func:`yesno_key`: yes, no, true, false, any case and surrounding
      punctuation): ``yesno``;
    * a LaTeX text wrapper with no math inside is read unwrapped (``\\text{Evelyn}`` is a word);
    * anything with a LaTeX or math mark (a backslash, ``$ ^ _ { } = + * / < > | %``, math
      symbols such as ``π √ ≤``), or a digit touching a letter (``2x``, ``10cm``): ``math``;
    * a word or phrase — at least one run of two or more letters — whose words are not all units
      or math names (``5 cm``, ``2 pi``, ``infinity`` stay math): ``text``. ``ojay``,
      ``New York``, ``Apollo 11`` are text;
    * everything else (numbers, single letters such as a variable ``x`` or an option ``C``,
      tuples and intervals of numbers): ``math``.

    Multiple-choice letters are never guessed from the gold alone (``C`` stays math): choice
    comes from the benchmark (GPQA) or an explicit kind. Integers stay ``math`` (equivalent for
    voting and grading). A bare product of variables such as ``xy`` reads as text: give the kind
    explicitly for such data.

    >>> [str(detect_kind(g)) for g in ("ojay", "New York", "yes", "42", r"\\frac{1}{2}", "x", None)]
    ['text', 'text', 'yesno', 'math', 'math', 'math', 'math']
    """
    if gold is None:
        return AnswerKind.MATH
    s = unicodedata.normalize("NFKC", str(gold)).strip()
    unwrapped = _TEXT_MACRO_RE.sub(r"\1", s).strip().strip("$").strip()
    if unwrapped != s and not _MATH_MARK_RE.search(unwrapped):
        s = unwrapped  # \text{Evelyn} is the word Evelyn
    if not s:
        return AnswerKind.MATH
    if yesno_key(s) in ("yes", "no") and text_key(s) in _YESNO_WORDS:
        return AnswerKind.YESNO
    if _MATH_MARK_RE.search(s):
        return AnswerKind.MATH
    words = [w.casefold() for w in _LETTER_RUN_RE.findall(s)]
    if words and not all(w in _MATH_WORDS for w in words):
        return AnswerKind.TEXT
    return AnswerKind.MATH


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
    >>> canonical_key("The Eiffel Tower", "text"), canonical_key("TRUE.", "yesno")
    ('eiffel tower', 'yes')
    """
    if answer is None:
        return ""
    kind = parse_kind(kind)
    if kind is AnswerKind.CHOICE:
        return _choice_letter(answer) or answer.strip().upper()
    if kind is AnswerKind.TEXT:
        return text_key(answer)
    if kind is AnswerKind.YESNO:
        return yesno_key(answer)
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
    if kind is AnswerKind.TEXT or kind is AnswerKind.YESNO:
        return gold_key != "" and gold_key == pred_key  # equal keys are the only equivalence: never math-verify
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
    >>> answers_equal("ojay", "yajo", "text"), answers_equal("Eiffel Tower", "the eiffel tower.", "text")
    (False, True)
    """
    if gold is None or pred is None:
        return False
    kind = parse_kind(kind)
    return _keys_equal(canonical_key(gold, kind), canonical_key(pred, kind), kind)


def group_answers(answers: Sequence[str | None], kind: AnswerKind | str = AnswerKind.MATH) -> list[int]:
    """Group equivalent answers: one group id per answer, ``-1`` for None.

    Group ids are numbered by first appearance. Each new distinct key is compared with the
    representative key of every existing group (math-verify, cached), so the cost grows with the
    number of *distinct* answers, not with the number of traces.

    >>> group_answers(["1/2", "0.5", "3", None, r"\\frac12"])
    [0, 0, 1, -1, 0]
    >>> group_answers(["The Eiffel Tower", "eiffel tower.", "Louvre"], "text")
    [0, 0, 1]
    """
    kind = parse_kind(kind)
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
