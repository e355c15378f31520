"""OpenAI wire encoding of a replayed trace: token pieces, (synthesised) logprobs, SSE chunks.

:class:`WireEncoder` turns one trace's tokens into the bytes of ``chat.completion.chunk`` /
``text_completion`` SSE events, or into one whole non-streaming answer. No I/O.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from deepprune.types import Trace

__all__ = ["DONE", "WireEncoder", "synth_top_logprobs", "token_pieces"]

DONE = b"data: [DONE]\n\n"


def token_pieces(trace: Trace) -> tuple[str, ...]:
    """The ``n_tokens`` text pieces a trace is streamed as (see :mod:`deepprune.replayserver`).

    >>> from deepprune.types import Trace
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
    logprobs or confidences).
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

    def _logprobs_obj(self, start: int, stop: int, offset: int) -> dict[str, Any]:
        if self.chat:
            content = []
            for i in range(start, stop):
                lp, alts = self._token_logprobs(i)
                tok = self.pieces[i]
                content.append({"token": tok, "logprob": lp, "bytes": list(tok.encode()),
                                "top_logprobs": [{"token": t, "logprob": v, "bytes": None} for t, v in alts]})
            return {"content": content}
        tokens, lps, tops, offsets = [], [], [], []
        for i in range(start, stop):
            lp, alts = self._token_logprobs(i)
            tokens.append(self.pieces[i])
            lps.append(lp)
            tops.append(dict(alts))
            offsets.append(offset)
            offset += len(self.pieces[i])
        return {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets}

    def usage(self, completion: int) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}

    # --- streaming
    def event(self, choice: dict[str, Any], **extra: Any) -> bytes:
        """One SSE event with ``choice`` (none when empty) and top-level ``extra`` fields."""
        obj = {"id": self.id, "object": "chat.completion.chunk" if self.chat else "text_completion",
               "created": self.created, "model": self.model, "choices": [choice] if choice else [], **extra}
        return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"

    def role_event(self) -> bytes:
        """The chat stream's first event: the assistant role, no content."""
        return self.event({"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                           "finish_reason": None})

    def token_event(self, i: int, offset: int) -> bytes:
        """Token ``i`` (``offset``: characters streamed before it)."""
        piece = self.pieces[i]
        lp = self._logprobs_obj(i, i + 1, offset) if self.has_lp else None
        if self.chat:
            return self.event({"index": 0, "delta": {"content": piece}, "logprobs": lp, "finish_reason": None})
        return self.event({"index": 0, "text": piece, "logprobs": lp, "finish_reason": None})

    def final_events(self, finish: str, sent: int, *, include_usage: bool) -> list[bytes]:
        """The finish-reason event with usage, or (``include_usage``) it and a usage-only event, as OpenAI."""
        if self.chat:
            final: dict[str, Any] = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}
        else:
            final = {"index": 0, "text": "", "logprobs": None, "finish_reason": finish}
        if include_usage:
            return [self.event(final), self.event({}, usage=self.usage(sent))]
        return [self.event(final, usage=self.usage(sent))]

    def malformed_event(self) -> bytes:
        """An SSE event whose data is not valid JSON (the ``malformed`` fault)."""
        return b'data: {"id": "' + self.id.encode() + b'", "choices": [{"delta": {"cont\n\n'

    # --- whole answer
    def response(self, finish: str) -> bytes:
        """The non-streaming ``chat.completion`` / ``text_completion`` of every piece."""
        text = "".join(self.pieces)
        lp = self._logprobs_obj(0, len(self.pieces), 0) if self.has_lp else None
        if self.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": lp,
                      "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "logprobs": lp, "finish_reason": finish}
        obj = {"id": self.id, "object": "chat.completion" if self.chat else "text_completion",
               "created": self.created, "model": self.model, "choices": [choice],
               "usage": self.usage(len(self.pieces))}
        return json.dumps(obj, ensure_ascii=False).encode()
