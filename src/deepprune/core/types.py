"""The data model: frozen dataclasses, pure data, no I/O."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepprune.core.errors import DataError


class AnswerKind(enum.StrEnum):
    """How answers of a problem are compared."""

    MATH = "math"
    """A mathematical expression (LaTeX); compared by math-verify."""
    INTEGER = "integer"
    """An integer (AIME, GSM8K); compared numerically, math-verify as fallback."""
    CHOICE = "choice"
    """A multiple-choice letter A-Z; compared by letter equality."""
    TEXT = "text"
    """A free-text answer (a word, a name, a short phrase); compared by normalised exact match
    (case, surrounding whitespace and punctuation, a leading article, whitespace runs; the rules
    are in :func:`deepprune.core.answers.text_key`). Never goes through math-verify."""
    YESNO = "yesno"
    """A yes/no answer; the spellings yes/no/true/false (any case, surrounding punctuation)
    map to a canonical ``yes`` / ``no``; anything else is compared as :attr:`TEXT`."""


class FinishReason(enum.StrEnum):
    """Why a recorded trace ended."""

    STOP = "stop"
    """The model ended the answer itself (EOS / stop string)."""
    LENGTH = "length"
    """The token limit was reached."""
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Problem:
    """One question with its (optional) gold answer."""

    id: str
    """Unique id within a dataset, e.g. ``"math500/test/algebra/1.json"`` or ``"gsm8k-17"``."""
    question: str
    """The prompt text shown to the model (without system prompt / chat template)."""
    gold: str | None = None
    """The gold answer, or None when unknown."""
    kind: AnswerKind = AnswerKind.MATH
    source: str = ""
    """The benchmark it comes from (e.g. ``"math500"``)."""
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Free-form extra fields from the source (level, subject, options, ...)."""


@dataclass(frozen=True, slots=True)
class AnswerProbe:
    """The model's answer when asked mid-trace (``deepprune probe``; Dynasor-CoT, arXiv 2412.20993).

    After the first ``at`` generated tokens of a trace, the prompt plus that partial text plus a
    fixed "final answer" cue (:data:`deepprune.engine.probing.PROBE_CUE`) went to a model (greedy, at
    most a few dozen tokens); ``answer`` is what it wrote inside ``\\boxed{}`` (None when it
    closed no box). The probing model may differ from the one that wrote the trace: the trace
    file's header names it (``probe.model``).
    """

    at: int
    """Generated tokens of the trace the probe saw (its prefix length)."""
    answer: str | None
    logprob: float | None
    """Mean log-probability of the probe's generated tokens (its confidence), when known."""
    n_tokens: int
    """Tokens the probe generated (charged as generated tokens when a strategy asks for it)."""

    def __post_init__(self) -> None:
        if self.at < 1:
            raise ValueError(f"probe 'at' must be >= 1 tokens, got {self.at}")
        if self.n_tokens < 0:
            raise ValueError(f"probe 'n_tokens' must be >= 0, got {self.n_tokens}")
        if self.logprob is not None and not (self.logprob <= 0.0):  # also rejects nan
            raise ValueError(f"probe 'logprob' must be a log-probability <= 0, got {self.logprob}")


@dataclass(frozen=True, slots=True)
class Trace:
    """One recorded reasoning trace (a sampled answer to a problem).

    Per-token arrays, when present, have length ``n_tokens``.
    """

    problem_id: str
    index: int
    """Position of this trace among the problem's traces (0-based)."""
    text: str
    n_tokens: int
    """Number of generated tokens (completion tokens; the prompt is not counted)."""
    answer: str | None
    """The extracted final answer, or None when the trace has none."""
    finish_reason: FinishReason = FinishReason.UNKNOWN
    seed: int | None = None
    tokens: tuple[str, ...] | None = None
    """The generated token strings, when recorded."""
    logprobs: tuple[float, ...] | None = None
    """The log-probability of each sampled token, when recorded."""
    confs: tuple[float, ...] | None = None
    """DeepConf token confidence per token: -(1/k) * sum of the top-k logprobs."""
    probes: tuple[AnswerProbe, ...] = ()
    """Answer probes at cut points before the trace's end (``deepprune probe``), by ``at``."""

    def __post_init__(self) -> None:
        for name in ("tokens", "logprobs", "confs"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != self.n_tokens:
                raise ValueError(
                    f"trace {self.problem_id}#{self.index}: {name} has {len(arr)} entries, "
                    f"n_tokens is {self.n_tokens}"
                )
        ats = [p.at for p in self.probes]
        if ats != sorted(set(ats)):
            raise ValueError(f"trace {self.problem_id}#{self.index}: probes must have distinct 'at' "
                             f"values in increasing order, got {ats}")
        if ats and ats[-1] >= self.n_tokens:
            raise ValueError(f"trace {self.problem_id}#{self.index}: a probe at {ats[-1]} tokens is not "
                             f"before the trace's end ({self.n_tokens} tokens)")

    def probe_at(self, n: int) -> AnswerProbe | None:
        """The recorded probe after exactly ``n`` tokens, if any."""
        for p in self.probes:
            if p.at == n:
                return p
        return None

    def text_at(self, n: int) -> str:
        """The text of the first ``n`` generated tokens.

        Exact when token strings are recorded; otherwise the same fraction of the characters
        (``len(text) * n / n_tokens``, rounded down), a documented approximation.
        """
        if n >= self.n_tokens:
            return self.text
        if n <= 0:
            return ""
        if self.tokens is not None:
            return "".join(self.tokens[:n])
        return self.text[: len(self.text) * n // self.n_tokens]


@dataclass(frozen=True, slots=True)
class TraceSet:
    """A trace dataset: problems, their traces, and how they were made."""

    problems: tuple[Problem, ...]
    traces: Mapping[str, tuple[Trace, ...]]
    """problem id -> its traces, in recorded order."""
    header: Mapping[str, Any] = field(default_factory=dict)
    """The file header: format, model, sampling, token counting, provenance."""
    name: str = ""

    def traces_of(self, problem_id: str) -> tuple[Trace, ...]:
        return self.traces.get(problem_id, ())

    @property
    def n_traces(self) -> int:
        return sum(len(t) for t in self.traces.values())

    @property
    def has_confidence(self) -> bool:
        """True when every trace carries per-token confidences (needed by DeepConf)."""
        return all(t.confs is not None for ts in self.traces.values() for t in ts) and self.n_traces > 0


@dataclass(frozen=True, slots=True)
class ProblemResult:
    """What a strategy decided on one problem, and what it cost."""

    problem_id: str
    strategy: str
    answer: str | None
    correct: bool | None
    """None when the problem has no gold answer."""
    tokens: int
    """Generated tokens charged: every token of every trace up to where it stopped."""
    traces_launched: int
    traces_finished: int
    traces_stopped: int
    judge_calls: int = 0
    judge_tokens: int = 0
    """Input tokens (approximate words) read by the judge, reported apart from generation."""
    wall_s: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The strategy's own diagnostics (``Decision.info``). For older readers it also repeats
    ``traces_failed`` (when > 0) and ``error`` (when set); read the typed fields below instead."""
    traces_failed: int = 0
    """Traces that broke off (live: server errors, broken streams); charged, without an answer."""
    failures: tuple[str, ...] = ()
    """Why traces failed: the distinct ``TraceFailed`` messages, in order of first occurrence."""
    error: str | None = None
    """Why the whole problem failed (a deepprune error, with ``raise_on_error=False``), else None."""
    steps: int | None = None
    """Replay: decode steps until the decision (the lock-step clock: the tokens one stream
    generates meanwhile), i.e. the latency of a live run with a free server slot for every trace,
    in units of one token per stream (divide by a stream's tokens per second for seconds). None
    live, where ``wall_s`` is the measured time, and in results files."""

    @property
    def failed(self) -> bool:
        """The problem has no real answer because of a failure, not a wrong guess: the run raised
        an error, or failed traces left the strategy without an answer. Not graded as wrong."""
        return self.error is not None or (self.traces_failed > 0 and self.answer is None)

    # The JSON form: the ``result`` (and ``baseline_result``) of a ``deepprune/run-v1`` line.

    def to_dict(self) -> dict[str, Any]:
        """The result as ``deepprune run`` writes it: the problem id and strategy stand beside it in
        the line; ``error`` holds the first three trace failures (joined by ``"; "``) or the
        problem's error; ``failed`` is true when failed traces left no answer (then ``correct`` is
        null: not graded). ``info`` and ``judge_tokens`` are not kept. :meth:`recorded` is what
        ``deepprune run`` keeps and writes (``wall_s`` rounded to 0.1 ms)."""
        failed = self.traces_failed > 0 and self.answer is None
        return {"answer": self.answer, "correct": None if failed else self.correct, "tokens": self.tokens,
                "traces_launched": self.traces_launched, "traces_finished": self.traces_finished,
                "traces_stopped": self.traces_stopped, "traces_failed": self.traces_failed,
                "wall_s": self.wall_s, "judge_calls": self.judge_calls,
                "error": "; ".join(self.failures[:3]) if self.failures else self.error, "failed": failed}

    @classmethod
    def from_dict(cls, rec: object, *, problem_id: str = "", strategy: str = "",
                  path: str | Path | None = None, line: int | None = None, field: str = "result") -> ProblemResult:
        """A result as :meth:`to_dict` wrote it, for ``problem_id`` and ``strategy``, validated:
        counts are whole numbers >= 0, ``wall_s`` a number >= 0, ``answer``/``error`` strings or
        null, ``failed`` a boolean and ``correct`` a boolean or null; ``judge_calls``, ``error`` and
        ``failed`` may be absent (older files). Raises ``KeyError`` for a missing field and
        ``TypeError`` for an unknown one, :class:`~deepprune.core.errors.DataError` naming ``path``,
        ``line`` and ``field.key`` for a wrong value.

        The stored ``error`` comes back as the one entry of :attr:`failures`; ``failed`` is
        recomputed from ``traces_failed`` and ``answer`` as :meth:`to_dict` wrote it (a failed
        result is not graded: ``correct`` None). So ``from_dict(r.to_dict()) == r.recorded()``, and
        :meth:`to_dict` of a result read back gives the object it was read from.
        """
        if not isinstance(rec, Mapping):
            raise DataError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=line, field=field)
        unknown = set(rec) - set(_RECORD_KINDS)
        if unknown:
            raise TypeError(f"{field}: unexpected key(s) {sorted(unknown)}")
        vals: dict[str, Any] = {}
        for key, kind in _RECORD_KINDS.items():
            if key not in rec:
                if key not in _RECORD_OPTIONAL:
                    raise KeyError(f"{field}.{key}")
                continue
            v = rec[key]
            why = _value_problem(kind, v)
            if why:
                raise DataError(f"{why}, got {v!r}", path=path, line=line, field=f"{field}.{key}")
            vals[key] = int(v) if kind == "int" else v
        error = vals.pop("error", None)
        vals.pop("failed", None)  # recomputed: traces_failed > 0 and no answer
        if vals["traces_failed"] > 0 and vals["answer"] is None:
            vals["correct"] = None  # failed, not graded (a line from before ``failed`` was written)
        return cls(problem_id, strategy, failures=() if error is None else (error,), **vals)

    def recorded(self) -> ProblemResult:
        """What a results file keeps of this result: :meth:`to_dict` (``wall_s`` rounded to 0.1 ms)
        read back by :meth:`from_dict`."""
        rec = self.to_dict() | {"wall_s": round(self.wall_s, 4)}
        return self.from_dict(rec, problem_id=self.problem_id, strategy=self.strategy)


_RECORD_KINDS = {"answer": "str?", "correct": "bool?", "tokens": "int", "traces_launched": "int",
                 "traces_finished": "int", "traces_stopped": "int", "traces_failed": "int", "wall_s": "num",
                 "judge_calls": "int", "error": "str?", "failed": "bool"}
"""The keys of :meth:`ProblemResult.to_dict` and the kind of value each holds (``?``: or null)."""
_RECORD_OPTIONAL = frozenset({"judge_calls", "error", "failed"})


def _value_problem(kind: str, v: object) -> str | None:
    """What is wrong with ``v`` as a value of ``kind`` (None: nothing)."""
    if v is None:
        return None if kind.endswith("?") else "must not be null"
    kind = kind.rstrip("?")
    if kind == "str":
        return None if isinstance(v, str) else "expected a string"
    if kind == "bool":
        return None if isinstance(v, bool) else "expected true or false"
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return "expected a number"
    if kind == "int" and not float(v).is_integer():
        return "expected a whole number"
    return None if v >= 0 else "must be >= 0"
