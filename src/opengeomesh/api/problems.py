"""Domain errors as RFC 9457 problem details, mapped to HTTP status codes in this one place."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from opengeomesh.errors import (
    Busy,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OpenGeoMeshError,
    PayloadTooLarge,
    PreconditionFailed,
    StorageFull,
    Unauthenticated,
    UnsupportedMediaType,
)
from opengeomesh.limits.rates import TooManyRequests
from opengeomesh.ocm.client import PeerTimeout, PeerUnavailable
from opengeomesh.storage.failures import driver_errors, storage_error

log = logging.getLogger("opengeomesh")
PROBLEM_TYPE = "application/problem+json"
REALM = 'Bearer realm="opengeomesh"'

_STATUS: dict[type[OpenGeoMeshError], tuple[int, str]] = {
    InvalidInput: (400, "Bad request"),
    Unauthenticated: (401, "Unauthorized"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    PreconditionFailed: (412, "Precondition failed"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    PayloadTooLarge: (413, "Payload too large"),
    StorageFull: (507, "Insufficient storage"),
    PeerTimeout: (504, "Gateway timeout"),
    PeerUnavailable: (502, "Bad gateway"),
    Busy: (503, "Service unavailable"),
    TooManyRequests: (429, "Too many requests"),
}


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """A problem details response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_TYPE)


def domain_problem(exc: OpenGeoMeshError) -> Response:
    """The response for a domain error."""
    status, title = next(
        (value for kind, value in _STATUS.items() if isinstance(exc, kind)), (400, "Bad request")
    )
    headers = None
    extra: dict[str, Any] = {}
    if isinstance(exc, Unauthenticated):
        challenge = REALM
        if exc.invalid_token:
            challenge += ', error="invalid_token", error_description="the token is not valid"'
        headers = {"WWW-Authenticate": challenge}
    if isinstance(exc, Busy):
        headers = {"Retry-After": "2"}
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, InvalidInput):
        extra["parameter"] = exc.field
    return problem(status, title, exc.detail, headers, **extra)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error, ours and the framework's, as problem details."""

    async def on_domain(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, OpenGeoMeshError)
        return domain_problem(exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_methods_of(request))
        return problem(exc.status_code, _reason(exc.status_code), str(exc.detail), headers)

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            return problem(400, "Bad request", "body: not valid JSON", parameter="body")
        location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(location) or "body"
        return problem(400, "Bad request", f"{field}: {first.get('msg')}", parameter=field)

    async def on_database(_: Request, exc: Exception) -> Response:
        # handled here, not by on_unexpected: the connection stays open, nothing re-raised
        database = storage_error(exc)
        if database is None:
            log.error("unexpected error", exc_info=exc)
            return problem(500, "Internal server error", "an unexpected error; it has been logged")
        log.warning("%s (%s: %s)", database.detail, type(exc).__name__, exc)
        return domain_problem(database)

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected error", exc_info=exc)
        return problem(500, "Internal server error", "an unexpected error; it has been logged")

    app.add_exception_handler(OpenGeoMeshError, on_domain)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    for kind in driver_errors():  # the database full or out of reach: 507 or 503
        app.add_exception_handler(kind, on_database)
    app.add_exception_handler(Exception, on_unexpected)


def _methods_of(request: Request) -> list[str]:
    """Every method some route answers at this path (a 405 must list them all)."""
    found: set[str] = set()
    for route in request.app.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            found |= set(getattr(route, "methods", None) or ())
    return sorted(found)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
