"""Server-sent events (the ``text/event-stream`` framing of OpenAI-style streaming).

A small, strict-enough parser of the WHATWG rules that matter here: ``data:`` lines (several
are joined with newlines), ``event:`` and ``id:`` fields, ``:`` comment lines (keep-alives,
ignored), a blank line ends an event. ``[DONE]`` is an ordinary data payload; the caller decides
what it means.

>>> p = SSEParser()
>>> [p.feed(x) for x in ["data: {\\"a\\": 1}", ""]]
[None, SSEEvent(data='{"a": 1}', event=None, id=None)]
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser", "aiter_sse", "iter_sse"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event."""

    data: str
    event: str | None = None
    id: str | None = None


class SSEParser:
    """Feed it lines (without their line ending); it returns an event when one is complete."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, line: str) -> SSEEvent | None:
        line = line.rstrip("\r\n")
        if line == "":
            return self.flush()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        # other field names (retry, unknown) are ignored, as the spec says
        return None

    def flush(self) -> SSEEvent | None:
        """End the current event (blank line, or end of stream); None when it has no data."""
        if not self._data:
            self._event = None
            return None
        ev = SSEEvent("\n".join(self._data), self._event, self._id)
        self._data = []
        self._event = None
        return ev


def iter_sse(lines: Iterable[str]) -> Iterator[SSEEvent]:
    """Events from an iterable of lines (an event left open at the end is dispatched)."""
    p = SSEParser()
    for line in lines:
        ev = p.feed(line)
        if ev is not None:
            yield ev
    ev = p.flush()
    if ev is not None:
        yield ev


async def aiter_sse(lines: AsyncIterable[str]) -> AsyncIterator[SSEEvent]:
    """Events from an async iterable of lines (e.g. ``httpx.Response.aiter_lines()``)."""
    p = SSEParser()
    async for line in lines:
        ev = p.feed(line)
        if ev is not None:
            yield ev
    ev = p.flush()
    if ev is not None:
        yield ev
