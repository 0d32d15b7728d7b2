"""Who is calling: the bearer token of ``Authorization`` (RFC 6750 §2.1), never a query string."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from opengeomesh.accounts.models import Caller
from opengeomesh.accounts.tokens import token_hash
from opengeomesh.errors import Forbidden, Unauthenticated
from opengeomesh.services import Services
from opengeomesh.web.browser import api_session_caller


def services_of(request: Request) -> Services:
    """The services the app was built with."""
    services: Services = request.app.state.services
    return services


def bearer_token(request: Request) -> str | None:
    """The bearer token sent, if any; other schemes are refused rather than ignored."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use 'Authorization: Bearer <token>'", invalid_token=True)
    return token.strip()


async def current_caller(request: Request) -> Caller:
    """The caller of this request (a FastAPI dependency). Runs on the event loop: a token
    lookup is one indexed query, cheaper than a hop to a worker thread and back. A share's
    access token opens the OGC API of its collection only, never the management API."""
    token = bearer_token(request)
    if token is None and request.url.path.startswith("/collections"):
        session_caller = api_session_caller(request)  # the workspace's map (docs/web.md)
        if session_caller is not None:
            return session_caller
    caller = token_caller(services_of(request), token)
    if caller.share is not None and request.url.path.startswith("/manage"):
        raise Forbidden("a share's access token opens only the shared collection's OGC API")
    return caller


def token_caller(services: Services, token: str | None) -> Caller:
    """The caller a bearer token stands for, the token counted against its rate limit (by its
    hash, never by the secret itself)."""
    caller = services.caller_for_token(token)
    if token is not None:
        limit = services.settings.rate_limit_per_minute_token
        services.limiter.hit("token", token_hash(token)[:32], limit)
    return caller


def caller_again(request: Request) -> Callable[[], Caller]:
    """How a long answer (a change feed's stream) asks anew who its caller is: the bearer token
    looked up again, or the workspace's session cookie read and its token checked again."""
    token = bearer_token(request)
    services = services_of(request)
    by_session = token is None and request.url.path.startswith("/collections")
    if by_session and api_session_caller(request) is not None:
        return lambda: api_session_caller(request) or services.caller_for_token(None)
    return lambda: services.caller_for_token(token)


CurrentCaller = Annotated[Caller, Depends(current_caller)]
