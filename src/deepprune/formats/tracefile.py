"""The deepprune trace format, ``deepprune/traces-v1``: versioned JSON Lines (gzip allowed).

Line 1 is the header; then problem records, then trace records (a trace may only refer to a
problem defined above it)::

    {"format": "deepprune/traces-v1", "model": "...", "sampling": {...},
     "token_count": "server" | "tokenizer:<name>" | "approx:<rule>", "created": "...", ...}
    {"type": "problem", "id": "...", "question": "...", "gold": "...", "kind": "math", "source": "..."}
    {"type": "trace", "problem_id": "...", "index": 0, "text": "...", "n_tokens": 312,
     "answer": "...", "finish_reason": "stop", "seed": 7,
     "tokens": [...]?, "logprobs": [...]?, "confs": [...]?,
     "probes": [{"at": 64, "answer": "14", "logprob": -0.08, "n_tokens": 4}, ...]?}

A problem's ``kind`` is one of ``math``, ``integer``, ``choice``, ``text``, ``yesno``
(:class:`~deepprune.core.types.AnswerKind`); a record without one gets the kind detected from its
gold answer (:func:`~deepprune.core.answers.detect_kind`: math unless the gold is a word or phrase).

``probes`` (optional, added by ``deepprune probe``; older files without it load unchanged): the
model's answer when asked after the first ``at`` tokens (:class:`~deepprune.core.types.AnswerProbe`),
at cut points strictly before the trace's end, in increasing ``at``; ``answer`` is null when the
probe closed no ``\\boxed{}``, ``logprob`` the mean log-probability of the probe's tokens. A
file with probes has a ``probe`` header object naming the probing model, endpoint, cue and
token limit (the probing model may differ from the one that wrote the traces).

``token_count`` says how ``n_tokens`` was counted: ``server`` (the server's own usage/stream
count), ``tokenizer:<name>`` (a real tokenizer), or ``approx:<rule>`` (see
:mod:`deepprune.core.tokens`). Files ending in ``.gz`` are gzip-compressed. Writers append and flush
record by record, so a killed writer loses at most the record being written (readers report a
truncated last line with its line number).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from deepprune.core.answers import detect_kind
from deepprune.core.errors import DataError, FormatError
from deepprune.core.types import AnswerKind, AnswerProbe, FinishReason, Problem, Trace, TraceSet
from deepprune.formats.appendlog import prepare_append

__all__ = [
    "FORMAT",
    "ReadReport",
    "TraceWriter",
    "open_text",
    "problem_from_record",
    "problem_to_record",
    "read_traces",
    "trace_from_record",
    "trace_to_record",
    "write_traces",
]

FORMAT = "deepprune/traces-v1"

MAX_LINE_CHARS = 256 * 2**20
"""The longest line a reader accepts (a trace of ~50 M characters fits); longer is an error, so
that a file without newlines (``/dev/zero``) cannot exhaust memory."""


def open_text(path: str | Path, mode: str = "rt") -> IO[str]:
    """Open a text file, gzip-transparently by extension (``.gz``)."""
    p = Path(path)
    if p.suffix == ".gz":
        return gzip.open(p, mode, encoding="utf-8")  # type: ignore[return-value]
    return open(p, mode.replace("t", ""), encoding="utf-8")


def problem_to_record(p: Problem) -> dict[str, Any]:
    rec: dict[str, Any] = {"type": "problem", "id": p.id, "question": p.question, "gold": p.gold,
                           "kind": str(p.kind), "source": p.source}
    if p.meta:
        rec["meta"] = dict(p.meta)
    return rec


def trace_to_record(t: Trace) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "type": "trace",
        "problem_id": t.problem_id,
        "index": t.index,
        "text": t.text,
        "n_tokens": t.n_tokens,
        "answer": t.answer,
        "finish_reason": str(t.finish_reason),
        "seed": t.seed,
    }
    if t.tokens is not None:
        rec["tokens"] = list(t.tokens)
    if t.logprobs is not None:
        rec["logprobs"] = [round(x, 5) for x in t.logprobs]
    if t.confs is not None:
        rec["confs"] = [round(x, 5) for x in t.confs]
    if t.probes:
        rec["probes"] = [{"at": p.at, "answer": p.answer,
                          "logprob": None if p.logprob is None else round(p.logprob, 5),
                          "n_tokens": p.n_tokens} for p in t.probes]
    return rec


def _probes(rec: Mapping[str, Any], where: tuple[str, int]) -> tuple[AnswerProbe, ...]:
    """The optional ``probes`` list of a trace record (``deepprune probe``), validated."""
    raw = rec.get("probes")
    if raw is None:
        return ()
    path, line = where
    if not isinstance(raw, list):
        raise DataError(f"expected a list of probe objects, got {type(raw).__name__}", path=path,
                        line=line, field="probes")
    out: list[AnswerProbe] = []
    for i, item in enumerate(raw):
        name = f"probes[{i}]"
        if not isinstance(item, Mapping):
            raise DataError(f"expected an object with at/answer/logprob/n_tokens, got {type(item).__name__}",
                            path=path, line=line, field=name)
        for key in ("at", "n_tokens"):
            v = item.get(key)
            if not isinstance(v, int) or isinstance(v, bool):
                raise DataError(f"expected an integer, got {v!r}", path=path, line=line, field=f"{name}.{key}")
        ans = item.get("answer")
        if ans is not None and not isinstance(ans, str | int | float):
            raise DataError(f"expected a string or null, got {type(ans).__name__}", path=path, line=line,
                            field=f"{name}.answer")
        lp = item.get("logprob")
        if lp is not None and (not isinstance(lp, int | float) or isinstance(lp, bool)
                               or not math.isfinite(lp) or lp > 0):
            raise DataError(f"expected a log-probability <= 0 or null, got {lp!r}", path=path, line=line,
                            field=f"{name}.logprob")
        try:
            out.append(AnswerProbe(item["at"], None if ans is None else str(ans),
                                   None if lp is None else float(lp), item["n_tokens"]))
        except ValueError as exc:
            raise DataError(str(exc), path=path, line=line, field=name) from exc
    return tuple(out)


def _need(rec: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: tuple[str, int]) -> Any:
    if key not in rec:
        raise DataError("missing field", path=where[0], line=where[1], field=key)
    value = rec[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise DataError(f"expected {names}, got {type(value).__name__}", path=where[0], line=where[1],
                        field=key)
    return value


def problem_from_record(rec: Mapping[str, Any], where: tuple[str, int] = ("<memory>", 0)) -> Problem:
    pid = _need(rec, "id", (str, int), where)
    question = _need(rec, "question", str, where)
    gold = rec.get("gold")
    if gold is not None and not isinstance(gold, str | int | float):
        raise DataError(f"expected a string, got {type(gold).__name__}", path=where[0], line=where[1],
                        field="gold")
    try:
        kind = AnswerKind(rec["kind"]) if "kind" in rec else detect_kind(None if gold is None else str(gold))
    except ValueError as exc:
        raise DataError(f"unknown answer kind {rec.get('kind')!r} ({', '.join(k.value for k in AnswerKind)})",
                        path=where[0], line=where[1], field="kind") from exc
    meta = rec.get("meta") or {}
    return Problem(str(pid), question, None if gold is None else str(gold), kind, str(rec.get("source", "")),
                   meta)


def _float_list(rec: Mapping[str, Any], key: str, where: tuple[str, int], *,
                non_negative: bool = False) -> tuple[float, ...] | None:
    value = rec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(x, int | float) and not isinstance(x, bool)
                                              for x in value):
        raise DataError("expected a list of numbers", path=where[0], line=where[1], field=key)
    out = tuple(float(x) for x in value)
    for i, x in enumerate(out):
        if not math.isfinite(x) or (non_negative and x < 0):
            need = "finite and >= 0" if non_negative else "finite"
            raise DataError(f"entry {i} is {x!r}: every value must be {need}", path=where[0], line=where[1],
                            field=key)
    return out


def trace_from_record(rec: Mapping[str, Any], where: tuple[str, int] = ("<memory>", 0)) -> Trace:
    pid = str(_need(rec, "problem_id", (str, int), where))
    index = _need(rec, "index", int, where)
    text = _need(rec, "text", str, where)
    n_tokens = _need(rec, "n_tokens", int, where)
    if n_tokens < 0:
        raise DataError("must be >= 0", path=where[0], line=where[1], field="n_tokens")
    if "answer" not in rec:
        raise DataError("missing field (use null for a trace without an answer)", path=where[0],
                        line=where[1], field="answer")
    answer = rec.get("answer")
    if answer is not None and not isinstance(answer, str | int | float):
        raise DataError(f"expected a string or null, got {type(answer).__name__}", path=where[0],
                        line=where[1], field="answer")
    try:
        finish = FinishReason(rec.get("finish_reason") or "unknown")
    except ValueError:
        finish = FinishReason.UNKNOWN
    tokens = rec.get("tokens")
    if tokens is not None and (not isinstance(tokens, list) or not all(isinstance(x, str) for x in tokens)):
        raise DataError("expected a list of strings", path=where[0], line=where[1], field="tokens")
    seed = rec.get("seed")
    try:
        return Trace(pid, index, text, n_tokens, None if answer is None else str(answer), finish,
                     seed if isinstance(seed, int) else None,
                     tuple(tokens) if tokens is not None else None,
                     _float_list(rec, "logprobs", where), _float_list(rec, "confs", where, non_negative=True),
                     _probes(rec, where))
    except DataError:
        raise
    except ValueError as exc:
        field_name = "probes" if "probe" in str(exc) else None
        raise DataError(str(exc), path=where[0], line=where[1], field=field_name) from exc


@dataclass
class ReadReport:
    """What a lenient read skipped, so nothing is dropped silently."""

    skipped: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.skipped.append(message)


def iter_json_lines(path: str | Path, *, on_error: str = "raise",
                    report: ReadReport | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for each non-blank line; DataError names file and line.

    With ``on_error="skip"`` a malformed line (bad JSON, e.g. the truncated last line of a killed
    writer) is recorded in ``report`` and skipped. An unreadable file (corrupt gzip, not UTF-8, a
    directory) and a line longer than :data:`MAX_LINE_CHARS` are always errors.
    """
    try:
        fh = open_text(path)
    except FileNotFoundError as exc:
        raise DataError("file not found", path=path) from exc
    except IsADirectoryError as exc:
        raise DataError("is a directory; pass a trace file", path=path) from exc
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror or exc}", path=path) from exc
    with fh:
        lineno = 0
        try:
            while True:
                line = fh.readline(MAX_LINE_CHARS + 1)
                if not line:
                    break
                lineno += 1
                if len(line) > MAX_LINE_CHARS:
                    raise DataError(f"line longer than {MAX_LINE_CHARS} characters: not a JSON Lines file?",
                                    path=path, line=lineno)
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    what = (f"malformed JSON ({exc.msg} at column {exc.colno})"
                            if isinstance(exc, json.JSONDecodeError) else
                            "JSON nested too deeply" if isinstance(exc, RecursionError) else f"malformed JSON ({exc})")
                    err = DataError(f"{what}; fix or remove this line", path=path, line=lineno)
                    if on_error != "skip":
                        raise err from exc
                    if report is not None:
                        report.add(str(err))
                    continue
                yield lineno, rec
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
            where = f"after line {lineno}: " if lineno else ""
            raise DataError(f"cannot read {where}{exc} (a corrupt or truncated file?)", path=path) from exc


def read_traces(path: str | Path, *, on_error: str = "raise", report: ReadReport | None = None) -> TraceSet:
    """Read a ``deepprune/traces-v1`` file.

    ``on_error="skip"`` skips bad records (and traces of unknown problems), recording each in
    ``report``; ``"raise"`` (default) raises :class:`DataError` on the first one.
    """
    path = Path(path)
    lines = iter_json_lines(path, on_error=on_error, report=report)
    first = next(lines, None)
    if first is None:
        raise DataError("empty file: expected a deepprune/traces-v1 header line", path=path)
    lineno, header = first
    if not isinstance(header, dict) or "format" not in header:
        raise FormatError("first line is not a deepprune header (no 'format' field)", path=path, line=lineno)
    fmt = header["format"]
    if fmt != FORMAT:
        raise FormatError(f"unsupported format {fmt!r}; this version reads {FORMAT!r}", path=path,
                          line=lineno, field="format")
    problems: dict[str, Problem] = {}
    traces: dict[str, list[Trace]] = {}
    problem_line: dict[str, int] = {}
    trace_line: dict[tuple[str, int], int] = {}
    for lineno, rec in lines:
        where = (str(path), lineno)
        try:
            if not isinstance(rec, dict):
                raise DataError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=lineno)
            typ = rec.get("type")
            if typ == "problem":
                p = problem_from_record(rec, where)
                if p.id in problem_line:
                    raise DataError(f"duplicate problem {p.id!r} (first defined at line {problem_line[p.id]}); "
                                    "remove one", path=path, line=lineno, field="id")
                problem_line[p.id] = lineno
                problems[p.id] = p
                traces.setdefault(p.id, [])
            elif typ == "trace":
                t = trace_from_record(rec, where)
                if t.problem_id not in problems:
                    raise DataError(f"trace refers to unknown problem {t.problem_id!r} "
                                    "(problem records must come first)", path=path, line=lineno,
                                    field="problem_id")
                first_at = trace_line.get((t.problem_id, t.index))
                if first_at is not None:
                    raise DataError(f"duplicate trace: problem {t.problem_id!r} index {t.index} is already at "
                                    f"line {first_at}; remove the copy", path=path, line=lineno, field="index")
                trace_line[(t.problem_id, t.index)] = lineno
                traces[t.problem_id].append(t)
            else:
                raise DataError(f"unknown record type {typ!r} (expected 'problem' or 'trace')",
                                path=path, line=lineno, field="type")
        except DataError as exc:
            if on_error != "skip":
                raise
            if report is not None:
                report.add(str(exc))
    return TraceSet(tuple(problems.values()), {k: tuple(v) for k, v in traces.items()}, dict(header),
                    name=_dataset_name(path))


def _dataset_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


class TraceWriter:
    """Append-only writer: header once, then problems and traces, flushed record by record.

    Opening an existing file appends (for resumable collection) only after its header proves it
    is a trace file (and passes ``check_header``): see :mod:`deepprune.formats.appendlog`; a
    file that is not ours is refused unchanged. ``existing`` holds what it already has.
    """

    def __init__(self, path: str | Path, header: Mapping[str, Any], *,
                 check_header: Callable[[Mapping[str, Any]], None] | None = None) -> None:
        self.path = Path(path)
        self._problems: set[str] = set()
        existing = self.path.exists() and self.path.stat().st_size > 0
        if existing:
            def check(found: Mapping[str, Any]) -> None:
                if found.get("format") != FORMAT:
                    raise FormatError(f"not a {FORMAT} trace file (its first line has format "
                                      f"{found.get('format')!r}); choose another --out (nothing was changed)",
                                      path=self.path, line=1, field="format")
                if check_header is not None:
                    check_header(found)

            prepare_append(self.path, check)  # refuses a file that is not ours before touching it
            ts = read_traces(self.path, on_error="skip")
            self._problems = {p.id for p in ts.problems}
            self.existing = ts
        else:
            self.existing = TraceSet((), {}, dict(header))
        self._fh: IO[str] = open_text(self.path, "at")
        if not existing:
            self._write({"format": FORMAT, **{k: v for k, v in header.items() if k != "format"}})

    def _write(self, rec: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._fh.flush()

    def add_problem(self, p: Problem) -> None:
        if p.id in self._problems:
            return
        self._problems.add(p.id)
        self._write(problem_to_record(p))

    def add_trace(self, t: Trace) -> None:
        if t.problem_id not in self._problems:
            raise DataError(f"add_problem({t.problem_id!r}) before its traces", path=self.path)
        self._write(trace_to_record(t))

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_traces(ts: TraceSet, path: str | Path) -> None:
    """Write a whole TraceSet (overwrites ``path``)."""
    p = Path(path)
    if p.exists():
        p.unlink()
    with TraceWriter(p, ts.header) as w:
        for prob in ts.problems:
            w.add_problem(prob)
        for prob in ts.problems:
            for t in ts.traces_of(prob.id):
                w.add_trace(t)
