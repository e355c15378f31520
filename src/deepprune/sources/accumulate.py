"""One trace's streamed tokens, and the one rule that counts them (``collect`` and live runs).

A trace arrives as one or more streams (a resumed trace has one per segment), each a sequence of
:class:`~deepprune.sources.openai_client.TokenChunk` ended by a
:class:`~deepprune.sources.openai_client.StreamEnd`. :class:`StreamAccumulator` keeps the text,
the token strings and the per-token logprobs / DeepConf confidences, and counts tokens:

* **while streaming**, the tokens received: one per token when the server sends per-token
  logprobs, else one per content chunk (servers send one token per chunk); this is what a trace
  stopped now has cost;
* **when a stream ends**, if that stream was not *exact* (no chunk at all, or some chunk came
  without per-token logprobs) and the server reported ``usage.completion_tokens``, the server's
  count of that stream, when it is larger (a token with no text sends no chunk, a chunk may carry
  several). The count never goes down.

>>> from deepprune.sources.openai_client import StreamEnd, TokenChunk
>>> from deepprune.core.types import FinishReason
>>> acc = StreamAccumulator()
>>> acc.add(TokenChunk("Hel", ("Hel",))); acc.add(TokenChunk("lo", ("lo",)))
>>> acc.n_tokens, acc.text
(2, 'Hello')
>>> acc.end(StreamEnd(FinishReason.STOP, completion_tokens=3)); acc.n_tokens
3
"""

from __future__ import annotations

from deepprune.core.types import FinishReason
from deepprune.sources.openai_client import StreamEnd, TokenChunk

__all__ = ["StreamAccumulator"]


class StreamAccumulator:
    """Text, tokens, per-token data and the token count of one trace (see the module docstring)."""

    __slots__ = ("_counted", "_parts", "_segment_exact", "_segment_streamed", "_streamed", "confs",
                 "exact", "finish_reason", "logprobs", "tokens")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.tokens: list[str] = []
        """Token strings received (one per counted token while streaming)."""
        self.logprobs: list[float] = []
        """Log-probability per token received (0.0 where the server sent none; see :attr:`exact`)."""
        self.confs: list[float] = []
        """DeepConf confidence per token received (0.0 where the server sent no logprobs)."""
        self.exact = True
        """Every chunk so far came with per-token logprobs (tokens, logprobs and confs are real)."""
        self.finish_reason = FinishReason.UNKNOWN
        self._streamed = 0
        self._counted = 0
        """Tokens of ended streams beyond those streamed (the server's larger count)."""
        self._segment_streamed = 0
        self._segment_exact = True

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def n_tokens(self) -> int:
        """Generated tokens so far, by the rule in the module docstring."""
        return self._streamed + self._counted

    @property
    def has_token_data(self) -> bool:
        """Per-token data is exact and not empty: :attr:`tokens`, :attr:`logprobs`, :attr:`confs`
        have :attr:`n_tokens` entries each and can be recorded."""
        return self.exact and self._streamed > 0 and self._counted == 0

    def new_stream(self) -> None:
        """The next chunks belong to a new stream of the same trace (a resumed segment)."""
        self._segment_streamed = 0
        self._segment_exact = True

    def add(self, chunk: TokenChunk) -> None:
        self._parts.append(chunk.text)
        self.tokens.extend(chunk.tokens)
        n = chunk.n
        if chunk.logprobs is not None and chunk.confs is not None:
            self.logprobs.extend(chunk.logprobs)
            self.confs.extend(chunk.confs)
        else:
            self.exact = self._segment_exact = False
            self.logprobs.extend((0.0,) * n)
            self.confs.extend((0.0,) * n)
        self._streamed += n
        self._segment_streamed += n

    def end(self, end: StreamEnd) -> None:
        """The current stream ended normally: take its finish reason and, where the rule says,
        the server's token count."""
        self.finish_reason = end.finish_reason
        exact = self._segment_exact and self._segment_streamed > 0
        if not exact and end.completion_tokens is not None:
            self._counted += max(0, end.completion_tokens - self._segment_streamed)
