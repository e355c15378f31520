"""Answer probes: ask a model for its current answer in the middle of a trace.

Dynasor-CoT (Fu et al., arXiv 2412.20993) probes a reasoning trace by appending a "final answer"
cue to its partial text and letting the model complete it greedily for a few tokens; what it
writes in the box is the answer it would give now. deepprune uses the probe as evidence about
where a trace is heading (the accuracy issue's lever 4) and for probe-based early exit.

A probe request is the trace's own request (system prompt + question) with the partial text plus
:data:`PROBE_CUE` as a trailing assistant message to continue (chat: ``continue_final_message``,
which llama.cpp and vLLM honour and which reuses the cached prompt prefix; plain completions: the
text appended to the prompt), ``temperature`` 0, at most ``max_tokens`` tokens (default 24), with
the sampled tokens' logprobs. Reading stops as soon as the box closes (the stream is closed, the
server stops). The probe's answer is the box's content (None when it did not close within the
limit), its confidence the mean log-probability of the tokens it generated up to there.

Choices the paper leaves open, documented: the cue is Dynasor's wording; the answer counts only
when the box closes; the probe sees the trace's text exactly as generated (tokens re-tokenised by
the server, which may differ from the original token boundaries at the cut).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

from deepprune.core.answers import last_boxed
from deepprune.core.tokens import approx_tokens
from deepprune.sources.openai_client import EndpointConfig, StreamEnd, TokenChunk

__all__ = ["PROBE_CUE", "PROBE_MAX_TOKENS", "ProbeReply", "Streams", "boxed_answer", "probe_config", "run_probe"]

PROBE_CUE = "\n\n... Oh, I suddenly got the answer to the whole problem, **Final Answer**\n\n\\[ \\boxed{"
"""Appended to the partial text (Dynasor-CoT's probe wording); the model completes the box."""

PROBE_MAX_TOKENS = 24
"""Default limit of a probe's generated tokens (an answer box closes within it)."""


class Streams(Protocol):
    """Something that streams a request: a :class:`~deepprune.sources.openai_client.StreamClient`,
    or a live session's endpoint pool."""

    def stream(self, prompt: str, *, seed: int, max_tokens: int | None = None,
               prefill: str = "") -> AsyncGenerator[TokenChunk | StreamEnd, None]: ...


@dataclass(frozen=True, slots=True)
class ProbeReply:
    """What one probe returned."""

    answer: str | None
    logprob: float | None
    """Mean log-probability of the generated tokens (None without logprobs or tokens)."""
    n_tokens: int
    """Tokens generated (charged)."""
    prompt_tokens: int
    """Tokens the probe read: question + partial text + cue (approximate, :func:`approx_tokens`)."""


def probe_config(config: EndpointConfig, *, max_tokens: int = PROBE_MAX_TOKENS) -> EndpointConfig:
    """The endpoint settings of a probe: the trace's endpoint, greedy, ``max_tokens``, the
    sampled tokens' logprobs (one alternative), no retries beyond the trace's own."""
    return dataclasses.replace(config, temperature=0.0, top_p=1.0, max_tokens=max_tokens,
                               top_logprobs=1)


def _box_end(completion: str) -> int | None:
    """Where the box the completion continues closes (the index of its ``}``), or None."""
    depth = 0
    for i, ch in enumerate(completion):
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
    return None


def boxed_answer(completion: str) -> str | None:
    """The content of the box the probe completes (``completion`` follows ``\\boxed{``), or None
    when the box does not close in it (or closes empty).

    >>> boxed_answer("14} \\\\]")
    '14'
    >>> boxed_answer("\\\\frac{1}{2}}")
    '\\\\frac{1}{2}'
    >>> boxed_answer("12") is None
    True
    """
    end = _box_end(completion)
    return None if end is None else completion[:end].strip() or None


async def run_probe(client: Streams, question: str, partial: str, *, seed: int = 0,
                    max_tokens: int | None = None) -> ProbeReply:
    """Probe one partial trace through ``client`` (made with :func:`probe_config`)."""
    text = ""
    n = 0
    lps: list[float] = []
    async with aclosing(client.stream(question, seed=seed, max_tokens=max_tokens,
                                      prefill=partial + PROBE_CUE)) as stream:
        async for item in stream:
            if not isinstance(item, TokenChunk):
                break
            text += item.text
            n += item.n
            if item.logprobs is not None:
                lps.extend(item.logprobs)
            if _box_end(text) is not None:  # the box closed: stop reading, the server stops
                break
    answer = boxed_answer(text)
    # sanity: an answer that is itself a box (the model repeated the cue) is unboxed once more
    if answer is not None and "\\boxed" in answer:
        answer = last_boxed(answer) or answer
    logprob = min(0.0, sum(lps) / len(lps)) if lps else None
    return ProbeReply(answer, logprob, n, approx_tokens(question) + approx_tokens(partial) + approx_tokens(PROBE_CUE))
