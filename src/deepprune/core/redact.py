"""Keeping credentials out of logs, error messages and files: the one redaction helper.

* :func:`redact_url` — a URL with its userinfo (``user:password@``) and query string replaced by
  ``***``: what deepprune shows and saves instead of a ``--base-url``.
* :func:`redact` — any text with every URL's userinfo and query string, ``Bearer``/``Basic`` tokens and
  every registered secret (API keys, URL passwords and query values, see :func:`register`)
  replaced by ``***``: applied to every error message built from a server's answer or an HTTP
  library's exception, and to log records once :func:`install_log_redaction` ran (the CLI does).

Secrets are registered process-wide when an endpoint is configured
(:class:`~deepprune.sources.openai_client.EndpointConfig`), so a key that a server echoes back
in an error body is recognised wherever it turns up. Values shorter than
:data:`MIN_SECRET_LEN` characters are not registered (they would blank out ordinary words).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

__all__ = ["MASK", "MIN_SECRET_LEN", "install_log_redaction", "redact", "redact_url", "register", "url_secrets"]

MASK = "***"
MIN_SECRET_LEN = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@?#'\"<>]+@")
_URL_QUERY = re.compile(r"(?P<url>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"<>]*)\?[^\s#'\"<>]+")
_BEARER = re.compile(r"(?P<b>\b(?:Bearer|Basic)\s+)[^\s'\",;]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` without credentials: userinfo and query string become ``***``.

    >>> redact_url("http://user:KEY@host:8080/v1?key=abc")
    'http://***@host:8080/v1?***'
    >>> redact_url("http://127.0.0.1:8080/v1")
    'http://127.0.0.1:8080/v1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The secret parts of ``url``: its userinfo, password and query values (raw and decoded)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        found += [userinfo, userinfo.partition(":")[2]]  # the user name alone is left to the URL rule
        found.append(base64.b64encode(unquote(userinfo).encode()).decode())  # as HTTP Basic auth sends it
    if parts.query:
        found += [parts.query]
        for raw in parts.query.split("&"):
            found.append(raw.partition("=")[2])
        found += [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
    return sorted({s for f in found for s in (f, unquote(f)) if s}, key=len, reverse=True)


def register(*secrets: str | None) -> None:
    """Remember ``secrets`` so that :func:`redact` blanks them out wherever they appear."""
    global _pattern
    new = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN}
    with _lock:
        if new <= _secrets:
            return
        _secrets.update(new)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` without credentials (see the module docstring); ``extra``: more secrets to hide.

    >>> redact("GET http://u:pw@h/v1?key=s3cret failed: Bearer sk-123")
    'GET http://***@h/v1?*** failed: Bearer ***'
    """
    out = _URL_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
    out = _URL_QUERY.sub(lambda m: m.group("url") + "?" + MASK, out)
    out = _BEARER.sub(lambda m: m.group("b") + MASK, out)
    pattern = _pattern
    if pattern is not None:
        out = pattern.sub(MASK, out)
    for s in extra:
        if s and len(s) >= MIN_SECRET_LEN:
            out = out.replace(s, MASK)
    return out


_installed = False


def install_log_redaction() -> None:
    """Redact every log record's message (and formatted exception) as it is created, for all
    loggers (deepprune's and the HTTP libraries', which log request URLs). Idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
