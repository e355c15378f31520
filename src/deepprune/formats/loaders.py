"""Loaders for data people already have, mapped into :class:`~deepprune.core.types.TraceSet`.

* ``v1``      — deepprune's own format (:mod:`deepprune.formats.tracefile`).
* ``qwen``    — Qwen-style evaluation output: one problem per line with ``question``, ``gt``,
  ``code`` (list of sampled responses) and ``pred`` (their extracted answers).
* ``deepconf`` — DeepConf saved traces: dicts with ``text``, ``token_ids`` or ``num_tokens``,
  ``confs``, ``extracted_answer``, ``stop_reason``; as a list, a batch dict ``{"traces": [...]}``
  (optionally with ``question`` / ``ground_truth``), in JSON or a pickle of those. One problem
  per file.
* ``generic`` — JSON Lines, one trace per line (or a list of texts per line), with a field
  mapping such as ``problem_id=qid,question=prompt,gold=answer,text=response``. Each problem's
  answer kind is ``kind=`` (``--kind``) when given, else its mapped ``kind`` field, else detected
  from its gold answer (:func:`~deepprune.core.answers.detect_kind`: a word or phrase is text, a yes/no
  spelling yesno, anything else math).

Token counts missing from the source are counted with the approximation of
:mod:`deepprune.core.tokens` (the header's ``token_count`` says so).
"""

from __future__ import annotations

import json
import math
import numbers
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from deepprune.core.answers import KINDS, detect_kind, extract_answer, parse_kind
from deepprune.core.errors import ConfigError, DataError, FormatError
from deepprune.core.tokens import APPROX_RULE, TokenCounter, approx_tokens
from deepprune.core.types import AnswerKind, FinishReason, Problem, Trace, TraceSet
from deepprune.formats.safepickle import load_data_pickle
from deepprune.formats.tracefile import FORMAT, ReadReport, iter_json_lines, open_text, read_traces

__all__ = ["FORMATS", "detect_format", "load_deepconf", "load_generic", "load_qwen", "load_traces"]

FORMATS = ("auto", "v1", "qwen", "deepconf", "generic")


def detect_format(path: str | Path) -> str:
    """Guess the format of ``path`` from its extension and first record."""
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", path=p)
    if p.is_dir():
        raise DataError("is a directory; pass a trace file", path=p)
    if p.suffix in (".pkl", ".pickle"):
        return "deepconf"
    try:
        with open_text(p) as fh:
            head = fh.read(1 << 16)
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read: {exc} (a corrupt or truncated file?)", path=p) from exc
    if not head.strip():
        raise DataError("empty file", path=p)
    first_line = head.lstrip().split("\n", 1)[0]
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        first = None
    if isinstance(first, dict):
        if "format" in first:
            return "v1"
        if "code" in first and "question" in first:
            return "qwen"
        if "traces" in first or ("text" in first and ("confs" in first or "extracted_answer" in first)):
            return "deepconf"
    if isinstance(first, list) and first and isinstance(first[0], dict) and "text" in first[0]:
        return "deepconf"
    if first is None and head.lstrip()[:1] in "[{":
        return "deepconf"  # a whole-file JSON document
    raise FormatError(
        "cannot tell the format of this file; pass --format (v1, qwen, deepconf) or "
        "--format generic --map problem_id=...,text=...",
        path=p,
    )


def load_traces(
    path: str | Path,
    fmt: str = "auto",
    *,
    mapping: Mapping[str, str] | None = None,
    on_error: str = "raise",
    report: ReadReport | None = None,
    counter: TokenCounter | None = None,
    kind: AnswerKind | str | None = None,
) -> TraceSet:
    """Load a trace dataset in any supported format (see the module docstring).

    ``kind`` (``--kind``) sets the answer kind of every problem of a ``generic`` or ``qwen`` file
    (default: generic detects it per problem, qwen reads math); the other formats refuse it.
    """
    if fmt not in FORMATS:
        raise ConfigError("format", fmt, "one of " + ", ".join(FORMATS))
    k = None if kind is None else parse_kind(kind, "--kind")
    if fmt == "auto":
        fmt = detect_format(path)
    if k is not None and fmt not in ("generic", "qwen"):
        raise ConfigError("--kind", str(k), f"used only with --format generic or qwen (this is a {fmt} file, "
                          "whose problems carry their own kind)" if fmt == "v1" else
                          f"used only with --format generic or qwen (this is a {fmt} file)")
    if fmt == "v1":
        return read_traces(path, on_error=on_error, report=report)
    if fmt == "qwen":
        return load_qwen(path, kind=k or AnswerKind.MATH, on_error=on_error, report=report, counter=counter)
    if fmt == "deepconf":
        return load_deepconf(path)
    if mapping is None:
        raise ConfigError("mapping", None, "a field mapping for --format generic (e.g. text=response)")
    return load_generic(path, mapping, kind=k, on_error=on_error, report=report)


def _header(source_format: str, path: Path, **extra: Any) -> dict[str, Any]:
    return {"format": FORMAT, "source_format": source_format, "source_path": str(path), **extra}


def load_qwen(path: str | Path, *, kind: AnswerKind | str = AnswerKind.MATH, on_error: str = "raise",
              report: ReadReport | None = None, counter: TokenCounter | None = None) -> TraceSet:
    """Qwen-style eval output (``question``, ``gt``, ``code[i]``, ``pred[i]``).

    The recorded ``pred[i]`` is the trace's answer (an empty string means no answer); when
    ``pred`` is absent the answer is extracted from the text. The file has no token counts: they
    come from ``counter`` (e.g. :class:`~deepprune.core.tokens.ServerTokenizer`, a real tokenizer), by
    default the ``approx:regex-v1`` approximation; the header's ``token_count`` says which.
    """
    p = Path(path)
    kind = parse_kind(kind)
    problems: list[Problem] = []
    traces: dict[str, tuple[Trace, ...]] = {}
    first_line: dict[str, int] = {}
    for lineno, rec in iter_json_lines(p, on_error=on_error, report=report):
        try:
            problem, ts = _qwen_record(rec, p, lineno, kind)
            if problem.id in first_line:
                raise DataError(f"duplicate problem idx {problem.id!r} (first at line {first_line[problem.id]}); "
                                "remove one", path=p, line=lineno, field="idx")
            first_line[problem.id] = lineno
        except DataError as exc:
            if on_error != "skip":
                raise
            if report is not None:
                report.add(str(exc))
            continue
        problems.append(problem)
        traces[problem.id] = ts
    if not problems:
        raise DataError("no problems in file", path=p)
    rule = APPROX_RULE
    if counter is not None:
        flat = [t for pr in problems for t in traces[pr.id]]
        counts = counter.count([t.text for t in flat])
        recount: dict[str, list[Trace]] = {}
        for t, n in zip(flat, counts, strict=True):
            recount.setdefault(t.problem_id, []).append(replace(t, n_tokens=n))
        traces = {k: tuple(v) for k, v in recount.items()}
        rule = counter.rule
    return TraceSet(tuple(problems), traces, _header("qwen", p, token_count=rule, model=None),
                    name=p.stem)


def _qwen_record(rec: Any, p: Path, lineno: int, kind: AnswerKind) -> tuple[Problem, tuple[Trace, ...]]:
    if not isinstance(rec, dict):
        raise DataError(f"expected a JSON object, got {type(rec).__name__}", path=p, line=lineno)
    for key in ("question", "code"):
        if key not in rec:
            raise DataError("missing field", path=p, line=lineno, field=key)
    codes = rec["code"]
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise DataError("expected a list of response strings", path=p, line=lineno, field="code")
    if not codes:
        raise DataError("problem has no traces (empty list)", path=p, line=lineno, field="code")
    preds = rec.get("pred")
    if preds is not None and (not isinstance(preds, list) or len(preds) != len(codes)):
        raise DataError(f"expected a list of {len(codes)} answers (one per response)", path=p, line=lineno,
                        field="pred")
    pid = str(rec.get("idx", lineno - 1))
    gold = rec.get("gt", rec.get("answer"))
    problem = Problem(pid, str(rec["question"]), None if gold is None else str(gold), kind,
                      source=p.stem, meta={k: rec[k] for k in ("level", "type") if k in rec})
    out = []
    for i, text in enumerate(codes):
        if preds is not None:
            raw = preds[i]
            answer = None if raw is None or str(raw).strip() == "" else str(raw)
        else:
            answer = extract_answer(text, kind)
        out.append(Trace(pid, i, text, approx_tokens(text), answer, FinishReason.UNKNOWN))
    return problem, tuple(out)


def _deepconf_count(d: Mapping[str, Any], key: str, i: int, where: str) -> int:
    n = d[key]
    if key == "token_ids":
        if isinstance(n, str | bytes | Mapping) or not hasattr(n, "__len__"):
            raise DataError(f"trace {i}: expected a list of token ids, got {type(n).__name__}", path=where,
                            field=key)
        return len(n)
    if isinstance(n, numbers.Real) and not isinstance(n, numbers.Integral) and float(n).is_integer():
        n = int(float(n))
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
        raise DataError(f"trace {i}: expected a non-negative whole number, got {n!r}", path=where, field=key)
    return int(n)


def _deepconf_trace(d: Any, pid: str, i: int, where: str) -> Trace:
    if not isinstance(d, dict):
        raise DataError(f"trace {i}: expected a dict, got {type(d).__name__}", path=where)
    if "text" not in d:
        raise DataError(f"trace {i}: missing field", path=where, field="text")
    text = d["text"]
    if not isinstance(text, str):
        raise DataError(f"trace {i}: expected a string", path=where, field="text")
    confs = d.get("confs")  # a list, or a numpy array in a pickle
    if confs is not None and (isinstance(confs, str | bytes | Mapping) or not hasattr(confs, "__iter__") or not all(
            isinstance(c, numbers.Real) and not isinstance(c, bool) for c in confs)):
        raise DataError(f"trace {i}: expected a list of numbers", path=where, field="confs")
    conf_t = tuple(float(c) for c in confs) if confs is not None else None
    bad = next((c for c in conf_t or () if not math.isfinite(c) or c < 0), None)
    if bad is not None:
        raise DataError(f"trace {i}: confidence {bad!r}; every value must be finite and >= 0", path=where,
                        field="confs")
    if d.get("num_tokens") is not None:
        n = _deepconf_count(d, "num_tokens", i, where)
    elif d.get("token_ids") is not None:
        n = _deepconf_count(d, "token_ids", i, where)
    elif conf_t is not None:
        n = len(conf_t)
    else:
        n = approx_tokens(text)
    if conf_t is not None and len(conf_t) != n:
        raise DataError(f"trace {i}: {len(conf_t)} confidences for {n} tokens", path=where, field="confs")
    answer = d.get("extracted_answer")
    stop = str(d.get("stop_reason") or "unknown")
    finish = FinishReason.LENGTH if stop == "length" else FinishReason.STOP if stop in ("stop", "eos") \
        else FinishReason.UNKNOWN
    return Trace(pid, i, text, n, None if answer in (None, "") else str(answer), finish, confs=conf_t)


MAX_DOCUMENT_CHARS = 2**31
"""Largest whole-file JSON document read (a DeepConf file of 512 long traces is well below)."""


def _read_json_document(p: Path, limit: int | None = None) -> str:
    """The text of a whole-file JSON document, refusing early what cannot be one (a device such as
    /dev/zero, a binary file) and bounding what is read."""
    limit = MAX_DOCUMENT_CHARS if limit is None else limit
    parts: list[str] = []
    size = 0
    with open_text(p) as fh:
        while chunk := fh.read(1 << 20):
            if not parts:
                head = chunk.lstrip()
                if head and head[0] not in "[{":
                    raise DataError(f"not a JSON document (starts with {head[:1]!r}); pass a DeepConf "
                                    "traces file", path=p)
            size += len(chunk)
            if size > limit:
                raise DataError(f"larger than {limit} characters: not a DeepConf traces file?", path=p)
            parts.append(chunk)
    return "".join(parts)


def load_deepconf(path: str | Path, *, problem_id: str | None = None) -> TraceSet:
    """DeepConf saved traces (JSON or pickle; list or ``{"traces": [...]}``), one problem."""
    p = Path(path)
    try:
        if p.suffix in (".pkl", ".pickle"):
            obj = load_data_pickle(p)  # plain data only: never runs code from the file
        else:
            obj = json.loads(_read_json_document(p))
    except FileNotFoundError as exc:
        raise DataError("file not found", path=p) from exc
    except IsADirectoryError as exc:
        raise DataError("is a directory; pass a DeepConf traces file", path=p) from exc
    except DataError:
        raise
    except (ValueError, RecursionError, OSError, zlib.error, EOFError) as exc:
        raise DataError(f"cannot parse DeepConf traces: {exc}", path=p) from exc
    question = ""
    gold = None
    if isinstance(obj, dict):
        if "traces" not in obj:
            raise DataError("missing field (a batch dict needs a 'traces' list)", path=p, field="traces")
        question = str(obj.get("question", ""))
        g = obj.get("ground_truth", obj.get("answer"))
        gold = None if g is None else str(g)
        items = obj["traces"]
    else:
        items = obj
    if not isinstance(items, list):
        raise DataError(f"expected a list of traces, got {type(items).__name__}", path=p, field="traces")
    if not items:
        raise DataError("problem has no traces (empty list)", path=p, field="traces")
    pid = problem_id or p.stem
    traces = tuple(_deepconf_trace(d, pid, i, str(p)) for i, d in enumerate(items))
    counted = "server" if all(isinstance(d, dict) and ("num_tokens" in d or "token_ids" in d) for d in items) \
        else APPROX_RULE
    problem = Problem(pid, question, gold, AnswerKind.MATH, source="deepconf")
    return TraceSet((problem,), {pid: traces}, _header("deepconf", p, token_count=counted), name=p.stem)


GENERIC_FIELDS = ("problem_id", "question", "gold", "text", "answer", "n_tokens", "kind")


def parse_mapping(spec: str) -> dict[str, str]:
    """``"problem_id=qid,text=response"`` -> {"problem_id": "qid", "text": "response"}."""
    out: dict[str, str] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        ours, eq, theirs = item.partition("=")
        if not eq:
            raise ConfigError("--map", item, "ours=theirs pairs, e.g. text=response")
        if ours.strip() not in GENERIC_FIELDS:
            raise ConfigError("--map field", ours.strip(), "one of " + ", ".join(GENERIC_FIELDS))
        out[ours.strip()] = theirs.strip()
    return out


def load_generic(path: str | Path, mapping: Mapping[str, str], *, kind: AnswerKind | str | None = None,
                 on_error: str = "raise", report: ReadReport | None = None) -> TraceSet:
    """JSON Lines with a field mapping (ours -> theirs; ``text`` and ``problem_id`` required).

    A line's mapped ``text`` may be a string (one trace) or a list of strings (several traces;
    then ``answer`` / ``n_tokens``, if mapped, must be lists of the same length).

    Answer kind of each problem: ``kind`` when given (one of math, integer, choice, text, yesno;
    a bad name is a :class:`~deepprune.core.errors.ConfigError`); else the mapped ``kind`` field of its
    first line; else :func:`~deepprune.core.answers.detect_kind` of its gold answer (math without one).
    Answers are extracted with that kind.
    """
    p = Path(path)
    kind = None if kind is None else parse_kind(kind)
    for required in ("text", "problem_id"):
        if required not in mapping:
            raise ConfigError("--map", dict(mapping), f"a mapping for {required!r}")
    problems: dict[str, Problem] = {}
    traces: dict[str, list[Trace]] = {}
    for lineno, rec in iter_json_lines(p, on_error=on_error, report=report):
        try:
            _generic_record(rec, mapping, p, lineno, kind, problems, traces)
        except DataError as exc:
            if on_error != "skip":
                raise
            if report is not None:
                report.add(str(exc))
    if not problems:
        raise DataError("no traces in file", path=p)
    header = _header("generic", p, token_count="source" if "n_tokens" in mapping else APPROX_RULE,
                     mapping=dict(mapping))
    return TraceSet(tuple(problems.values()), {k: tuple(v) for k, v in traces.items()}, header, name=p.stem)


def _get(rec: dict[str, Any], theirs: str, p: Path, lineno: int) -> Any:
    cur: Any = rec
    for part in theirs.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise DataError("missing field", path=p, line=lineno, field=theirs)
        cur = cur[part]
    return cur


def _generic_record(rec: Any, mapping: Mapping[str, str], p: Path, lineno: int, kind: AnswerKind | None,
                    problems: dict[str, Problem], traces: dict[str, list[Trace]]) -> None:
    if not isinstance(rec, dict):
        raise DataError(f"expected a JSON object, got {type(rec).__name__}", path=p, line=lineno)
    pid = str(_get(rec, mapping["problem_id"], p, lineno))
    texts = _get(rec, mapping["text"], p, lineno)
    many = isinstance(texts, list)
    text_list: Sequence[Any] = texts if many else [texts]
    if not all(isinstance(t, str) for t in text_list):
        raise DataError("expected a string or a list of strings", path=p, line=lineno, field=mapping["text"])

    def per_trace(field: str) -> list[Any] | None:
        if field not in mapping:
            return None
        v = _get(rec, mapping[field], p, lineno)
        vals = v if many else [v]
        if not isinstance(vals, list) or len(vals) != len(text_list):
            raise DataError(f"expected {len(text_list)} values (one per text)", path=p, line=lineno,
                            field=mapping[field])
        return vals

    answers = per_trace("answer")
    counts = per_trace("n_tokens")
    if pid not in problems:
        question = str(_get(rec, mapping["question"], p, lineno)) if "question" in mapping else ""
        gold = _get(rec, mapping["gold"], p, lineno) if "gold" in mapping else None
        gold_s = None if gold is None else str(gold)
        k = kind
        if k is None and "kind" in mapping:
            raw = _get(rec, mapping["kind"], p, lineno)
            try:
                k = parse_kind(raw)
            except ConfigError:
                raise DataError(f"unknown answer kind {raw!r} (one of {', '.join(KINDS)})", path=p,
                                line=lineno, field=mapping["kind"]) from None
        if k is None:
            k = detect_kind(gold_s)
        problems[pid] = Problem(pid, question, gold_s, k, source=p.stem)
        traces[pid] = []
    for j, text in enumerate(text_list):
        if counts is not None:
            n = counts[j]
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise DataError(f"expected a non-negative integer, got {n!r}", path=p, line=lineno,
                                field=mapping["n_tokens"])
        else:
            n = approx_tokens(text)
        if answers is not None:
            a = answers[j]
            answer = None if a is None or str(a).strip() == "" else str(a)
        else:
            answer = extract_answer(text, problems[pid].kind)
        traces[pid].append(Trace(pid, len(traces[pid]), text, n, answer))
