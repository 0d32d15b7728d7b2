"""Upstream OGC API – Features servers: the operator registers their own server (pygeoapi,
ldproxy, GeoServer …) with the credentials to reach it, and exposes its collections as local
collections. Such a collection has an owner, grants, a public flag, sharing rules and OCM
shares like any other; only its features are read from (and written to) the upstream.

Credentials (password, token, header value) are sealed at rest like the secrets of shares
received (``ocm/secretbox.py``) and never shown back; lists show the kind and a mask."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlsplit

from opengeomesh.accounts.directory import require_admin
from opengeomesh.accounts.models import Caller
from opengeomesh.errors import Conflict, InvalidInput, NotFound
from opengeomesh.features.catalog import Catalog
from opengeomesh.features.models import Collection
from opengeomesh.ocm.client import OutboundClient, PeerUnavailable
from opengeomesh.ocm.secretbox import SecretBox

AuthKind = Literal["none", "basic", "bearer", "header"]
AUTH_KINDS: tuple[AuthKind, ...] = ("none", "basic", "bearer", "header")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
FORBIDDEN_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding"})
PART3_FILTER = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter"
PART4_WRITE = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete"
PART2_CRS = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
MAX_CONFORMANCE = 200


@dataclass(frozen=True, slots=True)
class Upstream:
    """A registered upstream server; ``secret`` is sealed."""

    key: int
    name: str
    base_url: str
    auth: AuthKind
    username: str
    header_name: str
    secret: bytes | None
    allow_private: bool
    conforms_to: tuple[str, ...]
    created: datetime

    def declares(self, conformance_class: str) -> bool:
        """Whether the upstream's ``/conformance`` listed this class (in any version)."""
        wanted = _unversioned(conformance_class)
        return any(_unversioned(c) == wanted for c in self.conforms_to)

    def described(self, exposed: list[str]) -> dict[str, Any]:
        """What lists and the API show: never the secret, only its kind and a mask."""
        body: dict[str, Any] = {
            "name": self.name,
            "url": self.base_url,
            "auth": self.auth,
            "allowPrivate": self.allow_private,
            "filter": self.declares(PART3_FILTER),
            "write": self.declares(PART4_WRITE),
            "collections": exposed,
            "created": self.created.isoformat(timespec="seconds"),
        }
        if self.auth == "basic":
            body["username"] = self.username
        if self.auth == "header":
            body["header"] = self.header_name
        if self.auth != "none":
            body["secret"] = "********"
        return body


@dataclass(frozen=True, slots=True)
class Exposure:
    """A local collection whose features live in ``remote_id`` of ``upstream``."""

    collection_key: int
    collection_id: str
    remote_id: str
    upstream: Upstream

    @property
    def url(self) -> str:
        """The upstream collection's URL."""
        return f"{self.upstream.base_url}/collections/{quote(self.remote_id, safe='')}"


@dataclass(frozen=True, slots=True)
class PolledChange:
    """A difference the poller found: the feature as now upstream (None when it is gone)."""

    feature_id: str
    action: Literal["create", "update", "delete"]
    feature: str | None
    hash: str | None


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease of background work that one process of all does at a time: ``name`` is the
    work, ``holder`` the process (host, pid and a random part)."""

    name: str
    holder: str


class LeaseLost(Conflict):
    """The lease ran out and may be another process's: nothing was recorded."""

    def __init__(self) -> None:
        super().__init__("the poll lease ran out before the poll was recorded")


class UpstreamStore(Protocol):
    """Persistence of upstream registrations, exposures and the poller's snapshots."""

    def add(
        self,
        name: str,
        *,
        base_url: str,
        auth: AuthKind,
        username: str,
        header_name: str,
        secret: bytes | None,
        allow_private: bool,
        conforms_to: list[str],
    ) -> Upstream:
        """Raises :class:`Conflict` when the name is taken."""
        ...

    def get(self, name: str) -> Upstream | None: ...
    def all(self) -> list[Upstream]: ...
    def set_conformance(self, key: int, conforms_to: list[str]) -> None: ...
    def remove(self, key: int) -> bool:
        """Raises :class:`Conflict` while collections are exposed from it."""
        ...

    def expose(self, collection_key: int, upstream_key: int, remote_id: str) -> None: ...
    def exposure(self, collection_id: str) -> Exposure | None: ...
    def exposures(self, upstream_key: int | None = None) -> list[Exposure]: ...
    def snapshot(self, collection_key: int) -> dict[str, str]:
        """Feature id → hash, as the last poll saw the upstream collection."""
        ...

    def record_poll(
        self,
        collection_key: int,
        changes: list[PolledChange],
        actor: str,
        lease: Lease | None = None,
    ) -> int:
        """In one transaction: each change takes the collection's next change number and is
        recorded in the change feed (``feature_changes``), and the snapshot follows. Returns
        the collection's change number after it. With ``lease``, only while it is held (else
        :class:`LeaseLost`, nothing recorded), so that no change is recorded twice."""
        ...

    def polled(self, collection_key: int) -> bool:
        """Whether the poller has taken the collection's first snapshot."""
        ...

    def take_snapshot(
        self, collection_key: int, hashes: dict[str, str], lease: Lease | None = None
    ) -> None:
        """The first poll: the snapshot is ``hashes``, no change is recorded; the collection
        counts as polled from now on. With ``lease`` as for :meth:`record_poll`."""
        ...

    def claim_lease(self, lease: Lease, now: float, seconds: float) -> bool:
        """Take or renew ``lease`` until ``now + seconds``, if it is free, ran out, or is the
        holder's already: one atomic statement, so of two claimers one wins."""
        ...

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up, if it is still the holder's."""
        ...


def credentials(upstream: Upstream, box: SecretBox) -> dict[str, str]:
    """The headers that authenticate this server at the upstream."""
    if upstream.auth == "none" or upstream.secret is None:
        return {}
    secret = box.open(upstream.secret, _context(upstream.name))
    if secret is None:
        raise PeerUnavailable(
            f"the credentials of upstream {upstream.name!r} cannot be opened"
            " (the data directory's secret key changed): register it again"
        )
    if upstream.auth == "basic":
        pair = base64.b64encode(f"{upstream.username}:{secret}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    if upstream.auth == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    return {upstream.header_name: secret}


def _context(name: str) -> bytes:
    return b"upstream:" + name.encode()


class Upstreams:
    """The operator's gestures on upstream servers and exposed collections."""

    def __init__(
        self,
        store: UpstreamStore,
        catalog: Catalog,
        box: SecretBox,
        client_for: Callable[[bool], OutboundClient],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._box = box
        self._client_for = client_for
        catalog.features_elsewhere(self._where)

    def _where(self, collection_id: str) -> str | None:
        exposure = self._store.exposure(collection_id)
        return None if exposure is None else f"upstream {exposure.upstream.name!r}"

    def add(
        self,
        caller: Caller,
        name: str,
        url: str,
        *,
        auth: str = "none",
        username: str = "",
        secret: str = "",
        header_name: str = "",
        allow_private: bool = False,
    ) -> Upstream:
        """Register an upstream after reading its ``/conformance`` with the credentials."""
        require_admin(caller)
        chosen = _check(name, url, auth, username, secret, header_name)
        base = url.rstrip("/")
        sealed = self._box.seal(secret, _context(name)) if chosen != "none" else None
        probe = Upstream(
            0, name, base, chosen, username, header_name, sealed, allow_private, (), _EPOCH
        )
        conforms = self._conformance(probe)
        if self._store.get(name) is not None:
            raise Conflict(f"upstream {name!r} exists already")
        return self._store.add(
            name,
            base_url=base,
            auth=chosen,
            username=username,
            header_name=header_name,
            secret=sealed,
            allow_private=allow_private,
            conforms_to=conforms,
        )

    def registered(self, caller: Caller) -> list[tuple[Upstream, list[str]]]:
        require_admin(caller)
        return [
            (u, [e.collection_id for e in self._store.exposures(u.key)]) for u in self._store.all()
        ]

    def remove(self, caller: Caller, name: str) -> None:
        require_admin(caller)
        upstream = self._get(name)
        exposed = [e.collection_id for e in self._store.exposures(upstream.key)]
        if exposed:
            raise Conflict(
                f"upstream {name!r} still feeds {', '.join(exposed)}: delete those collections"
                " first (their shares are revoked with them)"
            )
        self._store.remove(upstream.key)

    def refresh(self, caller: Caller, name: str) -> Upstream:
        """Read the upstream's ``/conformance`` again (after an upgrade of it)."""
        require_admin(caller)
        upstream = self._get(name)
        self._store.set_conformance(upstream.key, self._conformance(upstream))
        return self._get(name)

    def expose(
        self,
        caller: Caller,
        name: str,
        remote_id: str,
        *,
        owner: Caller,
        collection_id: str | None = None,
        public: bool = False,
    ) -> Collection:
        """Make the upstream collection ``remote_id`` a local collection owned by ``owner``,
        with the upstream's title and description."""
        require_admin(caller)
        upstream = self._get(name)
        probe = Exposure(0, "", remote_id, upstream)
        described = self.read_json(upstream, probe.url)
        if not isinstance(described, dict):
            raise PeerUnavailable(f"upstream {name!r} described {remote_id!r} oddly")
        title = described.get("title")
        description = described.get("description")
        local = self._catalog.create(
            owner,
            collection_id or remote_id,
            title=title[:200] if isinstance(title, str) else "",
            description=description[:4000] if isinstance(description, str) else "",
            public=public,
        )
        try:
            self._store.expose(local.key, upstream.key, remote_id)
        except Exception:
            self._catalog.delete(owner, local.id)
            raise
        return local

    def find(self, collection_id: str) -> Exposure | None:
        """The exposure behind a local collection id, if its features live upstream."""
        return self._store.exposure(collection_id)

    def headers(self, upstream: Upstream) -> dict[str, str]:
        return credentials(upstream, self._box)

    def client(self, upstream: Upstream) -> OutboundClient:
        return self._client_for(upstream.allow_private)

    def read_json(self, upstream: Upstream, url: str) -> Any:
        client = self.client(upstream)
        headers = {"Accept": "application/json", **self.headers(upstream)}
        response = client.send(client.build("GET", url, headers=headers))
        if response.status == 404:
            raise NotFound(f"upstream {upstream.name!r} has nothing at {url}")
        if response.status in (401, 403):
            raise PeerUnavailable(
                f"upstream {upstream.name!r} refused the credentials ({response.status})"
            )
        if response.status != 200:
            raise PeerUnavailable(f"upstream {upstream.name!r} answered {response.status}")
        return response.json()

    def _conformance(self, upstream: Upstream) -> list[str]:
        answer = self.read_json(upstream, f"{upstream.base_url}/conformance")
        listed = answer.get("conformsTo") if isinstance(answer, dict) else None
        if not isinstance(listed, list):
            raise PeerUnavailable(
                f"{upstream.base_url}/conformance has no conformsTo: is it an OGC API?"
            )
        return [c for c in listed if isinstance(c, str)][:MAX_CONFORMANCE]

    def _get(self, name: str) -> Upstream:
        upstream = self._store.get(name)
        if upstream is None:
            raise NotFound(f"no upstream {name!r}")
        return upstream


_EPOCH = datetime.fromtimestamp(0)
_VERSION = re.compile(r"/[0-9]+\.[0-9]+/(conf|req)/")


def _unversioned(uri: str) -> str:
    return _VERSION.sub("/conf/", uri.rstrip("/"))


def _check(
    name: str, url: str, auth: str, username: str, secret: str, header_name: str
) -> AuthKind:
    if not NAME_PATTERN.match(name):
        raise InvalidInput("name", "1-40 lower-case letters, digits, '_' or '-'")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url", "must be an http(s) URL of the OGC API's landing page")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput("url", "no query, fragment or credentials in the URL; use --auth")
    if auth not in AUTH_KINDS:  # narrows the type below
        raise InvalidInput("auth", f"must be one of {', '.join(AUTH_KINDS)}")
    if auth != "none" and not secret:
        raise InvalidInput("secret", f"auth {auth!r} needs a password, token or header value")
    if auth == "none" and (secret or username or header_name):
        raise InvalidInput("auth", "credentials given, but auth is 'none'")
    if auth == "basic" and (not username or ":" in username):
        raise InvalidInput("username", "basic auth needs a user name without ':'")
    if auth == "header" and (
        not HEADER_NAME.match(header_name) or header_name.lower() in FORBIDDEN_HEADERS
    ):
        raise InvalidInput("header", "a header name such as X-Api-Key")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in secret + username):
        raise InvalidInput("secret", "must not hold control characters")
    return auth
