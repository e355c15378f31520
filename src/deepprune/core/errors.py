"""Exceptions and warnings raised by deepprune.

The tree::

    DeepPruneError
    ├── ConfigError            a bad parameter (names the field and the value)
    ├── DataError              bad input data (names the file, line and field)
    │   └── FormatError        an unknown or unsupported file format / version
    ├── StrategyError          a strategy could not produce a result
    │   ├── NotApplicable      it cannot run on this data (no confidences, live oracle): an n/a row
    │   └── ProtocolError      it broke the strategy protocol (a bug): a failure, never n/a
    ├── ClientError            talking to an inference server failed
    │   ├── ServerError        the server answered with an error status
    │   ├── RequestTimeout     no byte / no token within the configured time
    │   └── StreamError        a stream broke or sent a malformed chunk
    ├── JudgeNotFittedError    a judge was used before ``fit`` (also a ValueError)
    └── LocalServerError       the local llama.cpp server could not be built, found or started

Warnings: ``UndefinedMetricWarning`` when a metric is undefined (e.g. AUROC with one class).
"""

from __future__ import annotations

from pathlib import Path


class DeepPruneError(Exception):
    """Base class of every error deepprune raises on purpose."""


class ConfigError(DeepPruneError, ValueError):
    """A parameter has a bad value."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field} must be {expected}, got {value!r}")


class DataError(DeepPruneError, ValueError):
    """Input data is malformed. The message names the file, line and field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = []
        if self.path is not None:
            where.append(self.path if line is None else f"{self.path}:{line}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class FormatError(DataError):
    """The file is in an unknown format or an unsupported version."""


class StrategyError(DeepPruneError):
    """A strategy could not produce a result (base of :class:`NotApplicable` and
    :class:`ProtocolError`; catch those two to tell "n/a" from "bug")."""


class NotApplicable(StrategyError):
    """The strategy cannot run on this data: DeepConf without token confidences, the oracle or the
    noisy-oracle judge on a live source. ``bench`` reports an n/a row with this message."""


class ProtocolError(StrategyError):
    """A strategy or source broke the protocol (stopped a trace it never launched, launched one
    twice, ...): a bug, reported as a failure, never as "not applicable"."""


class ClientError(DeepPruneError):
    """Talking to an inference server failed."""


class ServerError(ClientError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"server returned HTTP {status}: {message}")


class RequestTimeout(ClientError):
    """The server sent nothing within the configured time."""


class StreamError(ClientError):
    """A stream broke off or carried a malformed chunk."""


class JudgeNotFittedError(DeepPruneError, ValueError, AttributeError):
    """A judge that needs fitting was used before ``fit``."""


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined on this input (e.g. AUROC when all labels agree); nan is returned."""


class LocalServerError(DeepPruneError):
    """The local llama.cpp server could not be built, found or started (the message says why)."""
