"""Reopening an append-only JSON Lines file (a ``collect`` trace file, a ``run`` results file).

Both writers append one record per line and flush it, so a kill can leave at most one torn last
line. Reopening such a file to resume must never damage a file that is not the caller's own, so
:func:`prepare_append` works in this order:

1. read the first line (bounded) and parse it; a file whose first line is not a JSON object is
   refused with :class:`~deepprune.core.errors.FormatError` — **before** anything is written;
2. hand that header to the caller's ``check`` (format name, settings), which raises to refuse;
3. only then look at the tail: a last line without its newline that is a complete JSON object
   (e.g. a file copied with ``head -c -1``) keeps its data and gets the newline; a last line
   that does not parse (a write torn by a kill) is cut off, with a warning naming the bytes.

Gzip files are checked but never repaired (appending to gzip is not crash-safe; the writers
refuse to resume them).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from deepprune.core.errors import DataError, FormatError

__all__ = ["MAX_HEADER_BYTES", "prepare_append", "read_header"]

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 1 << 20
"""A header line longer than this is not a deepprune header."""

_BLOCK = 1 << 16


def read_header(path: str | Path) -> Mapping[str, Any]:
    """The parsed first line of ``path``; FormatError when it is not a complete JSON object."""
    p = Path(path)
    try:
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rb") as fh:
            first = fh.readline(MAX_HEADER_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read: {exc}", path=p) from exc
    if not first.endswith(b"\n"):
        raise FormatError("the first line is incomplete or too long to be a deepprune header; this file "
                          "is not one deepprune can resume (nothing was changed)", path=p, line=1)
    try:
        header = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"the first line is not JSON ({exc}); this is not a deepprune file "
                          "(nothing was changed)", path=p, line=1) from exc
    if not isinstance(header, dict):
        raise FormatError("the first line is not a JSON object; this is not a deepprune file "
                          "(nothing was changed)", path=p, line=1)
    return header


def _last_line_start(fh: io.BufferedRandom, size: int) -> int:
    """Offset just after the last newline (0 when there is none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - _BLOCK)
        fh.seek(start)
        block = fh.read(pos - start)
        i = block.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        pos = start
    return 0


def prepare_append(path: str | Path, check: Callable[[Mapping[str, Any]], None]) -> Mapping[str, Any]:
    """Check that ``path`` is the caller's file, then make its tail safe to append to.

    Returns the header. ``check(header)`` raises to refuse the file; a refused file is left
    byte-for-byte unchanged.
    """
    p = Path(path)
    header = read_header(p)
    check(header)
    if p.suffix == ".gz":
        return header
    with open(p, "rb+") as fh:
        size = fh.seek(0, io.SEEK_END)
        if size == 0:
            return header
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return header
        start = _last_line_start(fh, size)
        fh.seek(start)
        tail = fh.read(size - start)
        try:
            complete = isinstance(json.loads(tail), dict)
        except (json.JSONDecodeError, UnicodeDecodeError):
            complete = False
        if complete:
            fh.seek(size)
            fh.write(b"\n")
            log.warning("%s: the last record had no newline; added it (no data changed)", p)
        else:
            fh.truncate(start)
            log.warning("%s: dropped a partial last line of %d bytes (a write torn by a kill); "
                        "that record will be redone", p, size - start)
        fh.flush()
        os.fsync(fh.fileno())
    return header
