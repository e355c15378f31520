"""A quick check of an OpenAI-compatible endpoint before a live run: is it up, does it take the key?"""

from __future__ import annotations

import logging

import httpx

from deepprune.core.errors import ClientError
from deepprune.core.redact import redact, redact_url
from deepprune.sources.openai_client import EndpointConfig, split_query

__all__ = ["preflight"]

log = logging.getLogger(__name__)


async def preflight(endpoint: EndpointConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
    """``GET {base_url}/models``; fail fast, with a clear message, when the server is down or
    refuses the API key (401/403). Any other failure of ``/models`` is not fatal: the run itself
    reports real failures.

    Raises
    ------
    ClientError
        The server cannot be reached, or it refused the key.
    """
    base, params = split_query(endpoint.base_url)
    url = base.rstrip("/") + "/models"
    key = endpoint.resolved_key()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(endpoint.connect_timeout_s),
                                     transport=transport) as client:
            resp = await client.get(url, headers=headers, params=params)
    except httpx.ConnectError as exc:
        raise ClientError(f"cannot connect to {endpoint.display_url} ({redact(str(exc)) or type(exc).__name__}); "
                          "is the server running and is --base-url right?") from exc
    except httpx.HTTPError as exc:
        log.info("preflight GET %s failed: %s", redact_url(url), redact(str(exc)))
        return
    if resp.status_code in (401, 403):
        raise ClientError(f"{endpoint.display_url} refused the request (HTTP {resp.status_code}): pass --api-key or "
                          "set OPENAI_API_KEY")
