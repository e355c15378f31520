"""OpenAI wire encoding of a replayed trace: token pieces, (synthesised) logprobs, SSE chunks.

:class:`WireEncoder` turns one trace's tokens into the bytes of ``chat.completion.chunk`` /
``text_completion`` SSE events, or into one whole non-streaming answer. No I/O.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from deepprune.core import wire
from deepprune.core.types import Trace

__all__ = ["DONE", "WireEncoder", "synth_top_logprobs", "token_pieces"]

DONE = b"data: [DONE]\n\n"


def token_pieces(trace: Trace) -> tuple[str, ...]:
    """The ``n_tokens`` text pieces a trace is streamed as (see :mod:`deepprune.servers.replay`).

    >>> from deepprune.core.types import Trace
    >>> token_pieces(Trace("p", 0, "abcdef", 3, None))
    ('ab', 'cd', 'ef')
    """
    if trace.tokens is not None:
        return trace.tokens
    n, text = trace.n_tokens, trace.text
    cuts = [len(text) * i // n for i in range(n + 1)] if n else [0]
    pieces = [text[cuts[i]:cuts[i + 1]] for i in range(n)]
    if pieces:
        pieces[-1] = text[cuts[n - 1]:]
    return tuple(pieces)


def synth_top_logprobs(token: str, logprob: float | None, conf: float, k: int) -> list[tuple[str, float]]:
    """``k`` (token, logprob) alternatives whose mean logprob is exactly ``-conf``.

    The sampled ``token`` comes first with ``logprob`` (when known); ``k - 1`` placeholders
    ``<alt1>``... share the rest; when that would need a positive logprob every entry is ``-conf``.

    >>> alts = synth_top_logprobs("4", -0.1, 0.5, 4)
    >>> round(-sum(v for _, v in alts) / 4, 12)
    0.5
    """
    if k <= 0:
        return []
    if logprob is not None and k >= 2:
        rest = (-k * conf - logprob) / (k - 1)
        if rest <= 0.0:
            return [(token, logprob)] + [(f"<alt{j}>", rest) for j in range(1, k)]
    return [(token, -conf)] + [(f"<alt{j}>", -conf) for j in range(1, k)]


class WireEncoder:
    """The OpenAI encoding of ``pieces`` (tokens ``start...`` of ``trace``) for one request.

    ``top_k``: alternatives per token; ``logprobs``: include logprobs (only when the trace has
    logprobs or confidences). The chunks are :mod:`deepprune.core.wire`'s models.
    """

    def __init__(self, trace: Trace, pieces: Sequence[str], start: int, *, chat: bool, rid: int, model: str,
                 logprobs: bool, top_k: int, prompt_tokens: int) -> None:
        self.trace = trace
        self.pieces = pieces
        self.start = start
        self.chat = chat
        self.model = model
        self.top_k = top_k
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-replay-{rid}"
        self.created = int(time.time())
        self.has_lp = logprobs and (trace.logprobs is not None or trace.confs is not None)
        self.prompt_tokens = prompt_tokens

    # --- content
    def _token_logprobs(self, i: int) -> tuple[float, list[tuple[str, float]]]:
        tr, tok, j = self.trace, self.pieces[i], self.start + i
        lp = tr.logprobs[j] if tr.logprobs is not None else None
        if tr.confs is not None:
            alts = synth_top_logprobs(tok, lp, tr.confs[j], self.top_k)
            return (lp if lp is not None else -tr.confs[j]), alts
        assert lp is not None
        return lp, ([(tok, lp)] if self.top_k > 0 else [])

    def _logprobs(self, start: int, stop: int, offset: int) -> wire.Logprobs | None:
        if not self.has_lp:
            return None
        if self.chat:
            content = []
            for i in range(start, stop):
                lp, alts = self._token_logprobs(i)
                tok = self.pieces[i]
                content.append(wire.TokenLogprob(token=tok, logprob=lp, bytes=list(tok.encode()),
                                                 top_logprobs=[wire.TopLogprob(token=t, logprob=v) for t, v in alts]))
            return wire.Logprobs(content=content)
        tokens, lps, tops, offsets = [], [], [], []
        for i in range(start, stop):
            lp, alts = self._token_logprobs(i)
            tokens.append(self.pieces[i])
            lps.append(lp)
            tops.append(dict(alts))
            offsets.append(offset)
            offset += len(self.pieces[i])
        return wire.Logprobs(tokens=tokens, token_logprobs=list[float | None](lps),
                             top_logprobs=list[dict[str, float] | None](tops), text_offset=offsets)

    def usage(self, completion: int) -> wire.Usage:
        return wire.Usage(prompt_tokens=self.prompt_tokens, completion_tokens=completion,
                          total_tokens=self.prompt_tokens + completion)

    # --- streaming
    def _choice(self, text: str | None, lp: wire.Logprobs | None = None, finish: str | None = None, *,
                role: str | None = None) -> wire.ChatChoice | wire.TextChoice:
        if self.chat:
            return wire.ChatChoice(delta=wire.Delta(role=role, content=text), logprobs=lp, finish_reason=finish)
        return wire.TextChoice(text=text, logprobs=lp, finish_reason=finish)

    def event(self, choice: wire.ChatChoice | wire.TextChoice | None, usage: wire.Usage | None = None) -> bytes:
        """One SSE event with ``choice`` (none: empty ``choices``) and ``usage``."""
        return wire.encode_event(wire.Chunk(id=self.id, object="chat.completion.chunk" if self.chat else "text_completion",
                                            created=self.created, model=self.model,
                                            choices=[choice] if choice is not None else [], usage=usage))

    def role_event(self) -> bytes:
        """The chat stream's first event: the assistant role, no content."""
        return self.event(self._choice("", role="assistant"))

    def token_event(self, i: int, offset: int) -> bytes:
        """Token ``i`` (``offset``: characters streamed before it)."""
        return self.event(self._choice(self.pieces[i], self._logprobs(i, i + 1, offset)))

    def final_events(self, finish: str, sent: int, *, include_usage: bool) -> list[bytes]:
        """The finish-reason event with usage, or (``include_usage``) it and a usage-only event, as OpenAI."""
        final = self._choice(None if self.chat else "", finish=finish)
        if include_usage:
            return [self.event(final), self.event(None, self.usage(sent))]
        return [self.event(final, self.usage(sent))]

    def malformed_event(self) -> bytes:
        """An SSE event whose data is not valid JSON (the ``malformed`` fault)."""
        return b'data: {"id": "' + self.id.encode() + b'", "choices": [{"delta": {"cont\n\n'

    # --- whole answer
    def response(self, finish: str) -> bytes:
        """The non-streaming ``chat.completion`` / ``text_completion`` of every piece."""
        text = "".join(self.pieces)
        lp = self._logprobs(0, len(self.pieces), 0)
        kind, usage = "chat.completion" if self.chat else "text_completion", self.usage(len(self.pieces))
        if self.chat:
            message = wire.Delta(role="assistant", content=text)
            return wire.encode_json(wire.Chunk(id=self.id, object=kind, created=self.created, model=self.model,
                                               choices=[wire.MessageChoice(message=message, logprobs=lp,
                                                                           finish_reason=finish)], usage=usage))
        return wire.encode_json(wire.Chunk(id=self.id, object=kind, created=self.created, model=self.model,
                                           choices=[wire.TextChoice(text=text, logprobs=lp, finish_reason=finish)],
                                           usage=usage))
