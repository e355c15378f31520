"""How a replay server serves its traces: :class:`ServerConfig` and the trace assignment modes."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from deepprune.core.errors import ConfigError
from deepprune.servers.replay.faults import Fault

__all__ = ["MAX_TOP_LOGPROBS", "Assign", "ServerConfig"]

MAX_TOP_LOGPROBS = 20
"""The most ``top_logprobs`` a request may ask for (OpenAI's limit); more is HTTP 400."""


class Assign(enum.StrEnum):
    """How a request is given one of its problem's recorded traces."""

    AUTO = "auto"
    """By seed when the request has one, else round-robin."""
    SEED = "seed"
    """The trace recorded with the request's seed, else one fixed per seed (first come, first
    served; seed 0 without one)."""
    ROUND_ROBIN = "round-robin"
    """The problem's traces in recorded order, one per request, wrapping around."""


@dataclass(frozen=True)
class ServerConfig:
    """How a :class:`~deepprune.servers.replay.ReplayServer` serves its traces."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port (read it back from ``ReplayServer.port``)."""
    rate: float = 50.0
    """Tokens per second per stream (0: as fast as possible)."""
    latency_s: float = 0.0
    """Delay before the first token of every stream (time to first token)."""
    model: str = ""
    """Model name reported (default: the traces' model, else ``deepprune-replay``)."""
    assign: Assign = Assign.AUTO
    faults: tuple[Fault, ...] = ()
    seed_base: int = 0
    """Requests whose seed is deepprune's ``trace_seed(seed_base, problem_id, k)`` (what
    ``LiveSource`` and ``collect`` send for trace k with ``--seed seed_base``) get recorded trace k."""
    history: int = 10_000
    """How many per-request records ``/stats`` keeps (the totals count every request)."""
    idle_timeout_s: float = 60.0
    """A connection that starts no request for this long (a new one, or idle between keep-alive
    requests) is closed."""
    request_timeout_s: float = 30.0
    """A request must arrive whole (head and body) within this long of its first byte, else the
    server answers 408 and closes the connection (half-sent requests, slowloris)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "assign", Assign(self.assign))
        object.__setattr__(self, "faults", tuple(self.faults))
        if self.rate < 0:
            raise ConfigError("rate", self.rate, "tokens per second >= 0 (0: unpaced)")
        if self.latency_s < 0:
            raise ConfigError("latency_s", self.latency_s, ">= 0")
        if not 0 <= self.port <= 65535:
            raise ConfigError("port", self.port, "0-65535")
        for name in ("idle_timeout_s", "request_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(name, value, "a number of seconds > 0")
