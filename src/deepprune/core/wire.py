"""OpenAI completion chunks on the wire: one set of typed models, encoded by servers, decoded by clients.

The models (``msgspec`` Structs) describe what OpenAI-compatible servers stream from
``/v1/chat/completions`` (``chat.completion.chunk``: ``choices[i].delta``) and ``/v1/completions``
(``text_completion``: ``choices[i].text``), and the whole non-streaming answers: per-token
``logprobs`` with ``top_logprobs`` (chat's ``logprobs.content`` entries, which llama.cpp also sends
for completions, or the classic ``tokens`` / ``token_logprobs`` / ``top_logprobs`` lists),
``finish_reason`` and ``usage``.

* :func:`encode_event` (the replay server) writes one chunk as an SSE ``data:`` event, spaced as
  Python's ``json.dumps`` spaces JSON; :func:`encode_json` a whole answer.
* :func:`decode` (the live client) reads one event's data into :data:`ChatChunk` or
  :data:`TextChunk`. Unknown fields are ignored and optional ones may be missing (vLLM, SGLang,
  llama.cpp and OpenAI add fields of their own); data that does not fit the models (not JSON,
  a field of another type, an ``error`` object) gives None, and the caller reads it untyped.

Decoding straight from bytes into Structs is faster than ``orjson.loads`` into dicts and
walking them (BENCHMARKS.md, "Replay server on aiohttp (issue 11)").

>>> chunk = Chunk(id="c1", object="chat.completion.chunk", created=1, model="m",
...               choices=[ChatChoice(delta=Delta(content="4"))])
>>> event = encode_event(chunk)
>>> event
b'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"content": "4"}, "logprobs": null, "finish_reason": null}]}\\n\\n'
>>> decode(event[6:-2], chat=True) == chunk
True
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

__all__ = [
    "ChatChoice",
    "ChatChunk",
    "Chunk",
    "Delta",
    "Logprobs",
    "MessageChoice",
    "TextChoice",
    "TextChunk",
    "TokenLogprob",
    "TopLogprob",
    "Usage",
    "decode",
    "encode_event",
    "encode_json",
]


class TopLogprob(msgspec.Struct, kw_only=True):
    """One alternative of a token (chat ``top_logprobs`` entry)."""

    token: str = ""
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One sampled token of a chat ``logprobs.content`` list, with its alternatives."""

    token: str = ""
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] | None = None


class Logprobs(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A choice's logprobs: chat's ``content`` entries, or the classic completions lists."""

    content: list[TokenLogprob] | None = None
    tokens: list[str] | None = None
    token_logprobs: list[float | None] | None = None
    top_logprobs: list[dict[str, float] | None] | None = None
    """Classic completions: ``{token: logprob}`` per token."""
    text_offset: list[int] | None = None


class Delta(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A chat chunk's new text (``delta``), or a whole answer's ``message``. Reasoning models on
    vLLM / SGLang stream their thoughts as ``reasoning_content`` (or ``reasoning``)."""

    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class ChatChoice(msgspec.Struct, kw_only=True):
    """A ``chat.completion.chunk`` choice."""

    index: int = 0
    delta: Delta | None = None
    logprobs: Logprobs | None = None
    finish_reason: str | None = None


class TextChoice(msgspec.Struct, kw_only=True):
    """A ``text_completion`` choice (streamed or whole)."""

    index: int = 0
    text: str | None = None
    logprobs: Logprobs | None = None
    finish_reason: str | None = None


class MessageChoice(msgspec.Struct, kw_only=True):
    """A whole ``chat.completion`` choice."""

    index: int = 0
    message: Delta | None = None
    logprobs: Logprobs | None = None
    finish_reason: str | None = None


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


ChoiceT = TypeVar("ChoiceT", ChatChoice, TextChoice, MessageChoice)


class Chunk(msgspec.Struct, Generic[ChoiceT], kw_only=True, omit_defaults=True):
    """One streamed chunk (or a whole answer, with :class:`MessageChoice`). ``choices`` is empty in
    OpenAI's usage-only last chunk; ``error`` is set when a server reports an error in the stream."""

    id: str = ""
    object: str = ""
    created: int = 0
    model: str = ""
    choices: list[ChoiceT] | None = None
    usage: Usage | None = None
    error: Any | msgspec.UnsetType = msgspec.UNSET


ChatChunk = Chunk[ChatChoice]
TextChunk = Chunk[TextChoice]

_ENCODER = msgspec.json.Encoder()
_CHAT = msgspec.json.Decoder(ChatChunk)
_TEXT = msgspec.json.Decoder(TextChunk)


def encode_json(obj: msgspec.Struct) -> bytes:
    """``obj`` as JSON, spaced as ``json.dumps(obj, ensure_ascii=False)`` spaces it."""
    return msgspec.json.format(_ENCODER.encode(obj), indent=0)


def encode_event(chunk: Chunk[Any]) -> bytes:
    """One SSE event (``data: {...}`` and a blank line) carrying ``chunk``."""
    return b"data: " + msgspec.json.format(_ENCODER.encode(chunk), indent=0) + b"\n\n"


def decode(data: bytes, *, chat: bool) -> Chunk[ChatChoice] | Chunk[TextChoice] | None:
    """One event's data as a chunk of the chat or completions API; None for data that does not
    fit the models (read it untyped) or that reports an ``error``."""
    try:
        chunk = (_CHAT if chat else _TEXT).decode(data)
    except msgspec.DecodeError:  # ValidationError included
        return None
    return None if chunk.error is not msgspec.UNSET else chunk
