"""The client's errors: each answer that is not a success becomes one of these, carrying the
server's reason from its problem details (RFC 9457)."""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Base of every error the client raises."""


class ServerUnreachable(ClientError):
    """The server could not be reached, or did not answer in time."""


class ApiError(ClientError):
    """The server answered with an error: ``status``, ``title`` and ``detail`` as it gave them;
    ``parameter`` names the parameter or body field at fault, when it does."""

    status: int

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        parameter: str | None = None,
        body: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.parameter = parameter
        self.body = body or {}
        self.retry_after = retry_after


class InvalidInput(ApiError):
    """400: a parameter or body field is not valid; ``parameter`` names it."""


class Unauthorized(ApiError):
    """401: no token, or one the server does not take (withdrawn, mistyped)."""


class Forbidden(ApiError):
    """403: the token's user may not do this."""


class NotFound(ApiError):
    """404: no such thing, or none the token's user may see."""


class Conflict(ApiError):
    """409: the request clashes with the current state (a name taken, for example)."""


class PreconditionFailed(ApiError):
    """412: an If-Match condition did not hold; someone changed the thing meanwhile."""


class TooLarge(ApiError):
    """413: the request body is over the server's limit."""


class RateLimited(ApiError):
    """429: too many requests; try again after ``retry_after`` seconds."""


class PeerFailed(ApiError):
    """502: another organisation's server could not be reached or answered unusably."""


class Busy(ApiError):
    """503: the server is busy; try again after ``retry_after`` seconds."""


class PeerTimeout(PeerFailed):
    """504: another organisation's server did not answer in time."""


BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: TooLarge,
    429: RateLimited,
    502: PeerFailed,
    503: Busy,
    504: PeerTimeout,
}


def error_for(response: httpx.Response) -> ApiError:
    """The error an unsuccessful answer stands for, with the reason its body gives."""
    body: dict[str, Any] = {}
    if response.content:
        try:
            found = response.json()
        except ValueError:
            found = None
        if isinstance(found, dict):
            body = found
    title = str(body.get("title") or response.reason_phrase or "Error")
    detail = body.get("detail")
    if detail is None:  # not problem details (a proxy's page, an OAuth error)
        detail = body.get("error_description") or body.get("error") or response.text[:200]
    parameter = body.get("parameter")
    kind = BY_STATUS.get(response.status_code, ApiError)
    return kind(
        response.status_code,
        title,
        str(detail).strip(),
        parameter=str(parameter) if parameter is not None else None,
        body=body,
        retry_after=_seconds(response.headers.get("retry-after")),
    )


def _seconds(value: str | None) -> float | None:
    """Retry-After as seconds (the HTTP-date form is taken as 'soon': one second)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0
