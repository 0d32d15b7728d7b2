"""OCM endpoints (draft-ietf-ocm): discovery, the JWK Set, ``/ocm/invite-accepted``, and the
pages an invite link and ``inviteAcceptDialog`` lead to. Errors here use the OCM error body
``{"message": CODE, "validationErrors": [...]}``, not problem details."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from opengeomesh.api.auth import services_of
from opengeomesh.errors import (
    Busy,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OpenGeoMeshError,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)
from opengeomesh.limits.rates import TooManyRequests
from opengeomesh.ocm.addresses import normalise_host
from opengeomesh.ocm.client import PeerUnavailable
from opengeomesh.ocm.invites import encode_invite
from opengeomesh.ocm.payloads import Unsupported, parse_json
from opengeomesh.ocm.signatures import InboundMessage, SignatureRefused
from opengeomesh.services import Services
from opengeomesh.web.pages import render

log = logging.getLogger("opengeomesh")
JWKS_TYPE = "application/jwk-set+json"
ACCEPTED_INVITE_FIELDS = ("recipientProvider", "token", "userID", "email", "name")
_CODE = re.compile(r"^([A-Z][A-Z_]+): (.*)$", re.S)


_STATUS: list[tuple[type[OpenGeoMeshError], int, str]] = [
    (InvalidInput, 400, "INVALID_REQUEST"),
    (SignatureRefused, 401, "SIGNATURE_REFUSED"),
    (Unauthenticated, 401, "UNAUTHENTICATED"),
    (Forbidden, 403, "SERVER_NOT_TRUSTED"),
    (NotFound, 404, "NOT_FOUND"),
    (Conflict, 409, "CONFLICT"),
    (PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE"),
    (UnsupportedMediaType, 415, "UNSUPPORTED_MEDIA_TYPE"),
    (PeerUnavailable, 401, "SIGNATURE_UNVERIFIABLE"),
    (Busy, 503, "SERVICE_UNAVAILABLE"),
    (Unsupported, 501, "NOT_IMPLEMENTED"),
    (TooManyRequests, 429, "TOO_MANY_REQUESTS"),
]


def ocm_error(exc: OpenGeoMeshError) -> Response:
    """An OCM error body (spec.yaml ``Error`` / ``400``) for a domain error."""
    status, code = next(((s, c) for kind, s, c in _STATUS if isinstance(exc, kind)), (400, "ERROR"))
    detail = exc.reason if isinstance(exc, InvalidInput) else exc.detail
    match = _CODE.match(detail)
    if match:
        code, detail = match.group(1), match.group(2)
    body: dict[str, Any] = {"message": code, "detail": detail}
    if isinstance(exc, InvalidInput):
        body["detail"] = f"{exc.field}: {detail}"
        body["validationErrors"] = [{"name": exc.field, "message": code if match else "INVALID"}]
    headers = {"Retry-After": "5"} if status == 503 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def client_address(request: Request) -> str:
    """The address the request came from (behind a proxy: what uvicorn's proxy headers
    settings make of it)."""
    return request.client.host if request.client is not None else "unknown"


def limit_sender(request: Request, services: Services, message: InboundMessage) -> None:
    """Before an OCM request is handled: an unsigned one counts against its address's
    limit; a signed one counts against its verified host later (``Federation.verify_sender``)
    but is refused now if its address is over the limit through refused signatures."""
    limit = services.settings.rate_limit_per_minute_peer
    if message.signed:
        services.limiter.check("client address", client_address(request), limit)
    else:
        services.limiter.hit("client address", client_address(request), limit)


def count_refusal(request: Request, services: Services) -> None:
    """A refused signature counts against the sender's address (its host is not proven)."""
    limit = services.settings.rate_limit_per_minute_peer
    with contextlib.suppress(TooManyRequests):  # this answer is the refusal; the next, 429
        services.limiter.hit("client address", client_address(request), limit)


def discovery(request: Request) -> Response:
    """``GET /.well-known/ocm`` and the legacy ``/ocm-provider``."""
    document = services_of(request).federation.discovery_document()
    return Response(orjson.dumps(document), media_type="application/json")


def jwks(request: Request) -> Response:
    """``GET /ocm/jwks`` (our ``jwksUri``), also at ``/.well-known/jwks.json`` for -05 peers."""
    keys = services_of(request).federation.keyring.jwks()
    return Response(orjson.dumps(keys), media_type=JWKS_TYPE)


async def invite_accepted(request: Request) -> Response:
    """``POST /ocm/invite-accepted``: a server tells us one of our invites was accepted."""
    services = services_of(request)
    try:
        body = await json_body(request, services.settings.max_ocm_body_bytes)
        payload = _accepted_invite(body)
        message = InboundMessage.of(
            request.method, target_uri(request, services), request.headers.items(), body
        )
        limit_sender(request, services, message)
        answer = await run_in_threadpool(_receive_acceptance, services, message, payload)
    except SignatureRefused as exc:
        count_refusal(request, services)
        return ocm_error(exc)
    except OpenGeoMeshError as exc:
        return ocm_error(exc)
    except Exception:
        log.exception("unexpected error in /ocm/invite-accepted")
        failure = {"message": "INTERNAL_ERROR", "detail": "an unexpected error, now logged"}
        return Response(orjson.dumps(failure), 500, media_type="application/json")
    return Response(orjson.dumps(answer), media_type="application/json")


def _receive_acceptance(
    services: Services, message: InboundMessage, payload: dict[str, str]
) -> dict[str, str]:
    federation = services.federation
    host = normalise_host(payload["recipientProvider"], "recipientProvider")
    if host == federation.host:
        raise InvalidInput("recipientProvider", "INVALID: that is this server itself")
    try:
        federation.verify_sender(message, host, invite=True)
    except PeerUnavailable as exc:
        log.info("cannot verify %s: %s", host, exc.detail)
        raise SignatureRefused(
            f"SIGNATURE_UNVERIFIABLE: the keys of {host} could not be fetched"
        ) from None
    return federation.invites.receive_acceptance(
        recipient_provider=host,
        token=payload["token"],
        user_id=payload["userID"],
        email=payload["email"],
        name=payload["name"],
    )


async def json_body(request: Request, limit: int) -> bytes:
    """The raw body of a JSON request, up to ``limit`` bytes."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(f"send application/json, not {media or 'no content type'}")
    return await read_body(request, limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes")
    return bytes(body)


def _accepted_invite(body: bytes) -> dict[str, str]:
    """The ``AcceptedInvite`` fields (spec.yaml), each a string; the first problem is named."""
    payload = parse_json(body)
    for name in ACCEPTED_INVITE_FIELDS:
        if name not in payload:
            raise InvalidInput(name, "MISSING: required")
        if not isinstance(payload[name], str) or len(payload[name]) > 1000:
            raise InvalidInput(name, "INVALID: must be a string of at most 1000 characters")
    for name in ("userID", "email", "name"):
        if not payload[name].isprintable():
            raise InvalidInput(name, "INVALID: must not hold control characters")
    if not payload["token"] or not payload["userID"]:
        raise InvalidInput("token" if not payload["token"] else "userID", "MISSING: empty")
    return {name: payload[name] for name in ACCEPTED_INVITE_FIELDS}


def target_uri(request: Request, services: Services) -> str:
    """The URI the sender signed: our public URL plus the path, else the URL as received."""
    public = services.settings.public_url
    if public is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public}{request.url.path}{query}"


def invite_page(request: Request) -> Response:
    """The page an invite link opens: who invites, and how to accept on one's own server."""
    services = services_of(request)
    token = request.query_params.get("token", "")
    federation = services.federation
    invite_string = encode_invite(token, federation.host) if token else ""
    return render(
        request,
        "invite.html",
        organisation=federation.organisation,
        host=federation.host,
        invite_string=invite_string,
    )


def accept_invite_page(request: Request) -> Response:
    """Our ``inviteAcceptDialog``: shows the inviting organisation for an invite from a peer."""
    services = services_of(request)
    token = request.query_params.get("token", "")
    domain = request.query_params.get("providerDomain", "")
    organisation = error = ""
    host = ""
    try:
        invite = encode_invite(token, normalise_host(domain, "providerDomain"))
        host, organisation = services.federation.invites.preview(invite)
    except InvalidInput as exc:
        error, invite = exc.detail, ""
    except OpenGeoMeshError:
        error, invite = "the inviting server cannot be reached or is not trusted here", ""
    return render(
        request,
        "accept_invite.html",
        organisation=organisation,
        host=host,
        invite=invite,
        error=error,
    )
