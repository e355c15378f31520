"""The replay server's HTTP errors: :class:`BadRequest` and OpenAI's error object."""

from __future__ import annotations

from typing import Any

__all__ = ["BadRequest", "error_body"]


class BadRequest(Exception):
    """A request the server answers with an HTTP error ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error object for ``status``.

    >>> error_body(429, "slow down")["error"]["type"]
    'rate_limit_error'
    """
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 429:
        kind = "rate_limit_error"
    return {"error": {"message": message, "type": kind, "code": status}}
