"""The people and groups of one OpenGeoMesh server, and the caller of a request."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from opengeomesh.errors import InvalidInput

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_name(field_name: str, value: str) -> str:
    """Check a user or group name: lower case letters, digits, ``.``, ``_`` and ``-``.

    The same names later form OCM addresses (``name@host``), so they stay URL- and address-safe.
    """
    if not NAME_PATTERN.match(value):
        raise InvalidInput(
            field_name,
            f"{value!r} is not a valid name: use 1-64 lower case letters, digits, '.', '_' or '-',"
            " starting with a letter or digit",
        )
    return value


@dataclass(frozen=True, slots=True)
class User:
    """A local user account."""

    id: int
    name: str
    display_name: str
    is_admin: bool
    created: datetime
    email: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    """A named set of local users; grants to a group reach all its members."""

    id: int
    name: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A personal API token's record; the token itself is shown once and never stored."""

    id: int
    user_name: str
    label: str
    created: datetime
    last_used: datetime | None = None


@dataclass(frozen=True, slots=True)
class ShareScope:
    """What a share's access token opens: one collection (by key), ``read`` or ``write``."""

    share_id: int
    collection_key: int
    permission: str
    recipient: str  # the OCM address the share is for, named in the record of changes


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a local user with their groups, another server's user holding a share's
    access token (``share``: that one collection), or nobody (anonymous)."""

    user: User | None = None
    group_ids: frozenset[int] = field(default_factory=frozenset)
    share: ShareScope | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user is None and self.share is None

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin


ANONYMOUS = Caller()
