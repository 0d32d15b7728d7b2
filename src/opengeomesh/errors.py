"""Domain errors: raised by the domain, mapped to HTTP status codes once, in ``api/problems.py``."""

from __future__ import annotations


class OpenGeoMeshError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(OpenGeoMeshError):
    """The caller sent a value that cannot be used; ``field`` names it (parameter or body field)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.reason = detail


class NotFound(OpenGeoMeshError):
    """The thing does not exist, or the caller may not know that it exists."""


class Unauthenticated(OpenGeoMeshError):
    """No credentials, or credentials that are not valid, for something that needs them."""

    def __init__(self, detail: str, *, invalid_token: bool = False) -> None:
        super().__init__(detail)
        self.invalid_token = invalid_token


class Forbidden(OpenGeoMeshError):
    """The caller is known and may see the thing, but may not do this with it."""


class Conflict(OpenGeoMeshError):
    """The request clashes with the current state (a name already taken, for example)."""


class PayloadTooLarge(OpenGeoMeshError):
    """A request body is over the configured limit."""


class Busy(OpenGeoMeshError):
    """The store is busy with another write for longer than a request may wait."""


class DatabaseUnavailable(Busy):
    """The database cannot be reached or used now (down, restarting, cut off, a disk error):
    nothing was changed, and the same request may succeed later."""


class StorageFull(OpenGeoMeshError):
    """The database's disk (or quota) is full: nothing of the request was written."""


class PreconditionFailed(OpenGeoMeshError):
    """An ``If-Match`` condition does not hold: someone changed the thing meanwhile."""


class UnsupportedMediaType(OpenGeoMeshError):
    """The request body is of a media type this resource does not take."""
