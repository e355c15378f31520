"""Reading an OpenAI completion request: its options, its prompt, and text it asks to continue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deepprune.core.types import Problem
from deepprune.servers.replay.config import MAX_TOP_LOGPROBS
from deepprune.servers.replay.errors import BadRequest

__all__ = ["Options", "prefill_text", "prompt_text"]


@dataclass(frozen=True)
class Options:
    """What a completion request asks for (validated; a bad value is :class:`BadRequest` 400)."""

    stream: bool
    seed: int | None
    max_tokens: int | None
    logprobs: bool
    top_k: int
    include_usage: bool

    @classmethod
    def from_body(cls, body: Mapping[str, Any], chat: bool) -> Options:
        n = body.get("n", 1)
        if n not in (1, None):
            raise BadRequest(400, f"n must be 1 (one request per trace), got {n!r}")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise BadRequest(400, f"seed must be an integer, got {seed!r}")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens")) if chat else body.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 0):
            raise BadRequest(400, f"max_tokens must be an integer >= 0, got {max_tokens!r}")
        if chat:
            logprobs = bool(body.get("logprobs", False))
            top = body.get("top_logprobs", 0) or 0
        else:
            lp = body.get("logprobs")
            logprobs = lp is not None and lp is not False
            top = 0 if lp is None or isinstance(lp, bool) else lp
        if not isinstance(top, int) or isinstance(top, bool) or top < 0:
            raise BadRequest(400, f"top_logprobs must be an integer >= 0, got {top!r}")
        if top > MAX_TOP_LOGPROBS:
            raise BadRequest(400, f"top_logprobs must be at most {MAX_TOP_LOGPROBS} (as OpenAI's), got {top}")
        so = body.get("stream_options")
        include_usage = bool(so.get("include_usage")) if isinstance(so, Mapping) else False
        return cls(bool(body.get("stream", False)), seed, max_tokens, logprobs, int(top), include_usage)


def prompt_text(body: Mapping[str, Any], chat: bool) -> str:
    """The text that names the problem: the last user message (chat) or the prompt (completions)."""
    if not chat:
        prompt = body.get("prompt", "")
        if isinstance(prompt, list):
            if len(prompt) != 1 or not isinstance(prompt[0], str):
                raise BadRequest(400, "prompt must be a string (or a list of one string)")
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise BadRequest(400, "prompt must be a string")
        return prompt
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(400, "messages must be a non-empty list")
    for msg in reversed(messages):
        if isinstance(msg, Mapping) and msg.get("role") == "user":
            content = msg.get("content", "")
            if isinstance(content, list):
                return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
            return str(content)
    raise BadRequest(400, "messages has no user message")


def prefill_text(body: Mapping[str, Any], chat: bool, problem: Problem) -> str:
    """Text the request asks to continue: a trailing assistant message (chat), or what follows the
    question in the prompt (completions); ``""`` for an ordinary request."""
    if chat:
        last = body["messages"][-1]
        if isinstance(last, Mapping) and last.get("role") == "assistant":
            content = last.get("content") or ""
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
            return str(content)
        return ""
    prompt = prompt_text(body, chat)
    q = problem.question.strip()
    i = prompt.find(q) if q else -1
    return prompt[i + len(q):] if i >= 0 else ""
