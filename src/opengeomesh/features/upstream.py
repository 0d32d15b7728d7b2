"""The features of collections exposed from an upstream OGC API – Features server, read (and,
where the upstream declares Part 4, written) there on every request. The access rule is this
server's (``Catalog.require``); the upstream is reached with the operator's credentials.

Pieces are shared with mounted shares (``features/remote.py``): the upstream's pages are
checked and re-linked the same way, its paging carried in our cursors. Differences: ``bbox``
goes up in CRS84 (a box in another ``bbox-crs`` is converted here), features are always asked
in CRS84 and transformed here for ``crs`` (servers such as pygeoapi declare Part 2 but offer
other CRSs only per configured collection), and ``filter`` goes up only if the upstream
declares Part 3 (else 400 saying so)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

from opengeomesh.accounts.models import Caller
from opengeomesh.errors import Forbidden, InvalidInput, NotFound
from opengeomesh.features.catalog import Catalog
from opengeomesh.features.crs import CRS84, Crs
from opengeomesh.features.filtering import FILTER_PARAMETERS
from opengeomesh.features.models import Access, Collection, ItemsPage, StoredFeature
from opengeomesh.features.query import ItemsQuery
from opengeomesh.features.remote import (
    RemoteFeature,
    answered_crs,
    in_crs,
    page_from,
    peer_feature,
    refusal,
    unwrap_cursor,
)
from opengeomesh.features.upstreams import (
    PART3_FILTER,
    PART4_WRITE,
    Exposure,
    Upstreams,
)
from opengeomesh.ocm.client import PeerResponse, PeerTimeout, PeerUnavailable

GEOJSON = "application/geo+json"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _host(exposure: Exposure) -> str:
    return f"upstream {exposure.upstream.name!r}"


class TooManyFeatures(Exception):
    """An upstream collection holds more features than the poller reads."""

    def __init__(self, exposure: Exposure, cap: int) -> None:
        super().__init__(
            f"{_host(exposure)}: {exposure.remote_id!r} holds more than {cap} features"
        )


class UpstreamFeatures:
    """Items, single features and writes of exposed collections, proxied to the upstream."""

    def __init__(self, upstreams: Upstreams, catalog: Catalog, *, max_page_bytes: int) -> None:
        self._upstreams = upstreams
        self._catalog = catalog
        self._max = max_page_bytes

    def find(self, collection_id: str) -> Exposure | None:
        return self._upstreams.find(collection_id)

    def items(
        self, caller: Caller, exposure: Exposure, params: dict[str, str], query: ItemsQuery
    ) -> tuple[Collection, ItemsPage]:
        """One page; ``query`` is the client's checked query (its cursor not parsed: ours
        wraps the upstream's next-link query), ``params`` the raw parameters."""
        collection = self._catalog.require(caller, exposure.collection_id, Access.READ)
        upstream = exposure.upstream
        asked: dict[str, str]
        if "cursor" in params:
            asked = unwrap_cursor(params["cursor"])
            asked.pop("crs", None)
        else:
            asked = {"limit": str(query.limit)}
            if query.offset:
                asked["offset"] = str(query.offset)
            if query.bboxes:
                if len(query.bboxes) != 1:
                    raise InvalidInput("bbox", "a box across the antimeridian is not proxied")
                asked["bbox"] = ",".join(repr(n) for n in query.bboxes[0])
            if "datetime" in params:
                asked["datetime"] = params["datetime"]
            if FILTER_PARAMETERS & params.keys():
                if not upstream.declares(PART3_FILTER):
                    raise InvalidInput(
                        "filter",
                        f"{_host(exposure)} does not declare OGC API – Features Part 3"
                        " (filter), so this layer cannot be filtered",
                    )
                asked.update({k: params[k] for k in FILTER_PARAMETERS if k in params})
        response = self._call(exposure, "GET", "/items", asked)
        if response.status != 200:
            raise self._refusal(exposure, response, "query")
        return collection, page_from(response, _host(exposure), query.crs)

    def item(
        self,
        caller: Caller,
        exposure: Exposure,
        feature_id: str,
        if_none_match: str,
        crs: Crs = CRS84,
    ) -> tuple[Collection, RemoteFeature]:
        """One feature, in ``crs``, with the upstream's ETag where it is of this
        representation."""
        collection = self._catalog.require(caller, exposure.collection_id, Access.READ)
        headers = {"If-None-Match": if_none_match} if if_none_match else {}
        path = f"/items/{quote(feature_id, safe='')}"
        response = self._call(exposure, "GET", path, {}, headers)
        etag = response.headers.get("etag")
        if response.status == 304:
            return collection, RemoteFeature(None, etag)
        if response.status != 200:
            raise self._refusal(exposure, response, "query")
        host = _host(exposure)
        feature = peer_feature(response.json(), host)
        answered = answered_crs(response, host)
        (feature,) = in_crs([feature], answered, crs, host)
        return collection, RemoteFeature(feature, etag if answered == crs else None)

    def queryables(self, caller: Caller, exposure: Exposure) -> tuple[Collection, dict[str, Any]]:
        """The upstream's queryables (Part 3) as its JSON Schema's properties."""
        collection = self._catalog.require(caller, exposure.collection_id, Access.READ)
        response = self._call(exposure, "GET", "/queryables", {})
        if response.status != 200:
            raise self._refusal(exposure, response, "query")
        answer = response.json()
        properties = answer.get("properties") if isinstance(answer, dict) else None
        if not isinstance(properties, dict):
            raise PeerUnavailable(f"{_host(exposure)} answered queryables without properties")
        kept = {k: v for k, v in properties.items() if isinstance(v, dict)}
        return collection, kept

    def describe(self, exposure: Exposure) -> dict[str, Any]:
        """The upstream's description of the collection (extent), or {} if it cannot say."""
        try:
            response = self._call(exposure, "GET", "", {})
            answer = response.json() if response.status == 200 else {}
        except PeerUnavailable:
            return {}
        return answer if isinstance(answer, dict) else {}

    def walk(
        self,
        exposure: Exposure,
        *,
        page_size: int,
        max_features: int,
        after_page: Callable[[], None] = lambda: None,
    ) -> Iterator[StoredFeature]:
        """Every feature of the upstream collection, in CRS84, page by page along the
        upstream's ``next`` links (for the poller; no caller, the operator's credentials).
        :class:`TooManyFeatures` once more than ``max_features`` came."""
        asked: dict[str, str] | None = {"limit": str(page_size)}
        count = 0
        seen: set[str] = set()
        while asked is not None:
            response = self._call(exposure, "GET", "/items", asked)
            if response.status != 200:
                raise self._refusal(exposure, response, "query")
            page = page_from(response, _host(exposure), CRS84)
            count += len(page.features)
            if count > max_features:
                raise TooManyFeatures(exposure, max_features)
            yield from page.features
            after_page()
            if page.next_cursor is None or not page.features or page.next_cursor in seen:
                break  # the last page (or an upstream whose next link goes round in circles)
            seen.add(page.next_cursor)
            asked = unwrap_cursor(page.next_cursor)
            asked.pop("crs", None)

    def allowed(self, caller: Caller, exposure: Exposure, *, item: bool) -> list[str]:
        _, access = self._catalog.get(caller, exposure.collection_id)
        methods = ["GET", "HEAD", "OPTIONS"]
        if access >= Access.WRITE and exposure.upstream.declares(PART4_WRITE):
            methods += ["PUT", "PATCH", "DELETE"] if item else ["POST"]
        return methods

    def check_write(self, caller: Caller, exposure: Exposure) -> Collection:
        """The collection, if the caller may write and the upstream takes writes."""
        collection = self._catalog.require(caller, exposure.collection_id, Access.WRITE)
        if not exposure.upstream.declares(PART4_WRITE):
            raise Forbidden(
                f"{_host(exposure)} does not declare OGC API – Features Part 4"
                " (create-replace-delete): this layer is read-only"
            )
        return collection

    def write(
        self,
        caller: Caller,
        exposure: Exposure,
        method: str,
        feature_id: str | None,
        body: bytes,
        headers: dict[str, str],
    ) -> tuple[PeerResponse, StoredFeature | None]:
        """Forward a write (Part 4) to the upstream; its answer, and the feature it carries."""
        self.check_write(caller, exposure)
        path = "/items" if feature_id is None else f"/items/{quote(feature_id, safe='')}"
        response = self._call(exposure, method, path, {}, headers, body)
        if response.status not in (200, 201, 204):
            raise self._refusal(exposure, response, "body")
        if response.status == 204 or not response.body:
            return response, None
        try:
            return response, peer_feature(response.json(), _host(exposure))
        except PeerUnavailable:
            return response, None  # written there; its answer is not ours to fail on

    def _call(
        self,
        exposure: Exposure,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> PeerResponse:
        upstream = exposure.upstream
        client = self._upstreams.client(upstream)
        url = exposure.url + path + (f"?{urlencode(query)}" if query else "")
        request = client.build(
            method,
            url,
            headers={"Accept": f"{GEOJSON}, application/json", **(headers or {})},
            content=body or None,
        )
        request.headers.update(self._upstreams.headers(upstream))
        try:
            return client.send(request, max_bytes=self._max)
        except PeerTimeout as exc:  # 504, naming the upstream for the operator
            raise PeerTimeout(f"{_host(exposure)}: {exc.detail}") from None
        except PeerUnavailable as exc:  # 502
            raise PeerUnavailable(f"{_host(exposure)}: {exc.detail}") from None

    @staticmethod
    def _refusal(exposure: Exposure, response: PeerResponse, field: str) -> Exception:
        if response.status in (401, 403):  # our credentials, not the caller's fault
            return PeerUnavailable(
                f"{_host(exposure)} refused this server's credentials ({response.status})"
            )
        if response.status == 405:  # declared Part 4 server-wide, not for this collection
            return Forbidden(f"{_host(exposure)} does not take writes to this layer")
        if response.status == 404:
            return NotFound(f"{_host(exposure)} has no such feature or collection (any more)")
        return refusal(_host(exposure), response, field)
