"""Truncation rules that turn a partial trace into the prefix a judge compares.

Two rules, as in the DeepPrune paper:

* ``tokens:N`` — the first N generated tokens.
* ``words:K`` — the text up to and including the K-th *reasoning word* (a discourse marker
  from :data:`REASONING_WORDS`, matched case-insensitively as a whole word). The cut is made
  **after** the K-th marker (the paper leaves before/after open). K = 25 is the paper's best.

A trace that finishes before reaching the truncation point uses its whole text as the prefix.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field

from deepprune.core.errors import ConfigError

__all__ = ["REASONING_WORDS", "Truncation"]

REASONING_WORDS: tuple[str, ...] = (
    "wait",
    "thus",
    "since",
    "alternatively",
    "but",
    "so",
    "therefore",
    "however",
    "hmm",
    "then",
    "first",
    "next",
    "now",
    "hence",
    "because",
    "let",
    "finally",
)
"""Default discourse markers: the paper's list (wait, thus, since, alternatively, but, so,
therefore, however, hmm) plus step markers common in short instruct-model traces (then, first,
next, now, hence, because, let, finally). Configurable per rule."""


@dataclass(frozen=True)
class Truncation:
    """Where a prefix ends. Build one with :meth:`parse` (``"words:25"``, ``"tokens:128"``)."""

    unit: str = "words"
    """``"words"`` (reasoning words) or ``"tokens"``."""
    k: int = 25
    markers: tuple[str, ...] = REASONING_WORDS
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.unit not in ("words", "tokens"):
            raise ConfigError("truncation unit", self.unit, "'words' or 'tokens'")
        if self.k < 1:
            raise ConfigError("truncation k", self.k, "a positive integer")
        words = "|".join(re.escape(w) for w in sorted(self.markers, key=len, reverse=True))
        object.__setattr__(self, "_pattern", re.compile(rf"\b(?:{words})\b", re.IGNORECASE))

    @classmethod
    def parse(cls, spec: str | Truncation) -> Truncation:
        """``"words:25"`` or ``"tokens:128"`` -> Truncation.

        >>> Truncation.parse("tokens:64")
        Truncation(unit='tokens', k=64, ...)
        """
        if isinstance(spec, Truncation):
            return spec
        unit, _, k = spec.partition(":")
        try:
            return cls(unit=unit.strip(), k=int(k))
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError("truncation", spec, "'words:K' or 'tokens:N' with an integer") from exc

    def __repr__(self) -> str:
        return f"Truncation(unit={self.unit!r}, k={self.k}, ...)"

    def __str__(self) -> str:
        return f"{self.unit}:{self.k}"

    def cut(self, text: str) -> int | None:
        """For the ``words`` rule: the character offset just after the k-th marker in ``text``,
        or None when ``text`` has fewer than k markers."""
        if self.unit != "words":
            raise ValueError("cut() applies to the words rule")
        count = 0
        for m in self._pattern.finditer(text):
            count += 1
            if count == self.k:
                return m.end()
        return None

    def count_markers(self, text: str) -> int:
        return sum(1 for _ in self._pattern.finditer(text))


class PrefixWatcher:
    """Tracks when a growing trace reaches the truncation point, with few progress events.

    ``wait(n_tokens, text)`` is the number of tokens that must at least still be generated
    before the prefix can be complete (tokens rule: exact; words rule: each reasoning word takes
    at least one token, so ``k - markers_seen`` is a safe lower bound). ``prefix(n_tokens, text)``
    returns the prefix text once complete, else None. A finished trace's prefix is its
    (cut) text, whatever its length.

    ``end``: the text is ``text[:end]`` (a :class:`~deepprune.strategies.base.TraceProgress`'s
    ``text_buffer`` and ``text_end``); with a ``key`` the scan then reads only the new
    characters and copies nothing until the prefix is complete, so following a long trace costs
    time linear in its length.
    """

    def __init__(self, rule: Truncation) -> None:
        self.rule = rule
        self._scan: dict[Hashable, tuple[int, int, int | None]] = {}

    def _markers(self, text: str, key: Hashable | None, end: int | None = None) -> tuple[int, int | None]:
        """(markers in ``text``, end offset of the k-th marker or None).

        With a ``key`` (one per growing trace; its text must only grow by appending) the scan
        resumes after the last marker that cannot change any more (one not touching the end of
        the text), so following a trace costs time linear in its length; the result is the same
        as scanning the whole text.
        """
        pos, settled, cut = self._scan.get(key, (0, 0, None)) if key is not None else (0, 0, None)
        count = settled
        end = len(text) if end is None else end
        tail = end  # start of the trailing run of word characters: everything before it is final
        while tail > pos and (text[tail - 1].isalnum() or text[tail - 1] == "_"):
            tail -= 1
        settled_cut = cut
        for m in self.rule._pattern.finditer(text, pos, end):
            count += 1
            if count == self.rule.k:
                cut = m.end()
            if m.start() < tail:
                settled = count
                settled_cut = cut
        if key is not None:
            self._scan[key] = (tail, settled, settled_cut)
        return count, cut

    def forget(self, key: Hashable) -> None:
        """Drop the scan state of ``key`` (the trace no longer needs watching)."""
        self._scan.pop(key, None)

    def wait(self, n_tokens: int, text: str, key: Hashable | None = None, *, end: int | None = None) -> int:
        if self.rule.unit == "tokens":
            return max(1, self.rule.k - n_tokens)
        return max(1, self.rule.k - self._markers(text, key, end)[0])

    def prefix(self, n_tokens: int, text: str, *, finished: bool = False,
               key: Hashable | None = None, end: int | None = None) -> str | None:
        whole = text if end is None or end == len(text) else None
        if self.rule.unit == "tokens":
            if n_tokens >= self.rule.k or finished:
                return whole if whole is not None else text[:end]
            return None
        cut = self._markers(text, key, end)[1]
        if cut is not None:
            return text[:cut]
        if not finished:
            return None
        return whole if whole is not None else text[:end]
