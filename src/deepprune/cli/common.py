"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deepprune.core.answers import KINDS, parse_kind
from deepprune.core.errors import ConfigError, DataError
from deepprune.core.tokens import ServerTokenizer
from deepprune.core.types import TraceSet
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import FORMATS, load_traces, parse_mapping
from deepprune.formats.tracefile import ReadReport

__all__ = [
    "PLOT_SUFFIXES",
    "add_trace_input_args",
    "check_output",
    "int_at_least",
    "load_trace_args",
    "non_negative_float",
    "positive_float",
    "write_json",
]


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number >= ``low`` (the error names the value and the bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _float(text: str, *, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"must be a finite number {'>=' if allow_zero else '>'} 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite number > 0 (a timeout)."""
    return _float(text, allow_zero=False)


def non_negative_float(text: str) -> float:
    """An argparse ``type``: a finite number >= 0 (a rate where 0 means unpaced, a delay)."""
    return _float(text, allow_zero=True)


PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def check_output(dest: str | None, flag: str, *, inputs: Sequence[str | Path] = (), directory: bool = False,
                 suffixes: Sequence[str] = ()) -> None:
    """Check an output path before any work is done, so that a long run does not end in a traceback.

    Creates missing parent directories (as ``collect --out`` does); refuses a directory where a
    file is written (or a file where a directory is), an unwritable location, a name without one of
    ``suffixes``, and a path that is one of ``inputs`` (the command would overwrite its own input).
    ``-`` (stdout) and None pass.
    """
    if dest is None or dest == "-":
        return
    path = Path(dest)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(flag, dest, "a file name ending in " + ", ".join(suffixes))
    for src in inputs:
        if Path(src).exists() and path.exists() and os.path.samefile(src, path):
            raise ConfigError(flag, dest, f"a new file, not the input {str(src)!r} (it would be overwritten)")
    if path.is_dir() and not directory:
        raise ConfigError(flag, dest, "a file name, not a directory")
    if path.exists() and directory and not path.is_dir():
        raise ConfigError(flag, dest, "a directory (this path is not a directory)")
    parent = path if directory and path.is_dir() else path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(flag, dest, f"a path whose directory can be created ({exc.strerror or exc})") from None
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK):
        raise ConfigError(flag, dest, "a writable location (permission denied)")


def add_trace_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="trace file format (default: detect)")
    p.add_argument("--map", default=None, metavar="OURS=THEIRS,...",
                   help="field mapping for --format generic, e.g. problem_id=qid,text=response,gold=answer")
    p.add_argument("--kind", default=None, metavar="KIND",
                   help="answer kind of every problem of a --format generic (or qwen) file: "
                        + ", ".join(KINDS) + " (default: the mapped kind field, else detected from each "
                        "gold answer: a word or phrase is text, yes/no/true/false yesno, anything else math)")
    p.add_argument("--tokenizer", metavar="URL", default=None,
                   help="count tokens of files without counts (Qwen-style) with the real tokenizer of a "
                        "llama.cpp server at URL (POST /tokenize) instead of the approx:regex-v1 rule")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="bad records: fail (default) or skip them, counted and reported")


def load_trace_args(paths: Sequence[str], args: argparse.Namespace) -> list[TraceSet]:
    """Load every TRACES argument (a path or a shipped dataset name such as ``default``)."""
    mapping = parse_mapping(args.map) if args.map else None
    raw_kind = getattr(args, "kind", None)
    kind = None if raw_kind is None else parse_kind(raw_kind, "--kind")
    counter = ServerTokenizer(args.tokenizer) if getattr(args, "tokenizer", None) else None
    seen: dict[Path, str] = {}
    for raw in paths:
        key = resolve(raw).resolve()
        if key in seen:
            raise ConfigError("TRACES", raw, f"each file once ({raw!r} and {seen[key]!r} are the same file, "
                                             "given twice)")
        seen[key] = raw
    out = []
    for raw in paths:
        report = ReadReport()
        ts = load_traces(resolve(raw), args.format, mapping=mapping, on_error=args.on_error, report=report,
                         counter=counter, kind=kind)
        if report.skipped:
            print(f"deepprune: skipped {len(report.skipped)} bad record(s) in {raw}:", file=sys.stderr)
            for msg in report.skipped[:20]:
                print(f"  {msg}", file=sys.stderr)
            if len(report.skipped) > 20:
                print(f"  ... and {len(report.skipped) - 20} more", file=sys.stderr)
        if not ts.problems:
            raise DataError("no problems in file: nothing to run on" +
                            (f" ({len(report.skipped)} bad record(s) skipped)" if report.skipped else ""),
                            path=raw)
        out.append(ts)
    return out


def write_json(obj: Any, dest: str) -> None:
    """Write JSON to a file, or to stdout when ``dest`` is ``-``."""
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    if dest == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(dest).write_text(text + "\n", encoding="utf-8")


async def wait_for_signal() -> None:
    """Wait until SIGINT or SIGTERM (a foreground server command's main loop)."""
    import asyncio
    import contextlib
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@contextmanager
def progress_bar(desc: str, unit: str, *, disabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback that draws a tqdm bar on stderr (a no-op when
    ``disabled``); the bar is closed on exit, error or not."""
    if disabled:
        yield lambda done, total: None
        return
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()
