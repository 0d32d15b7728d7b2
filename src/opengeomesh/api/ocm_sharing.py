"""OCM sharing endpoints (draft-ietf-ocm; docs/protocol.md): ``POST /ocm/shares``,
``POST /ocm/notifications`` and the token endpoint ``POST /ocm/token``. Shares and
notifications answer with OCM error bodies; the token endpoint with OAuth 2.0 ones
(RFC 6749 §5.2)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from opengeomesh.api.auth import services_of
from opengeomesh.api.ocm import (
    count_refusal,
    json_body,
    limit_sender,
    ocm_error,
    read_body,
    target_uri,
)
from opengeomesh.errors import Busy, OpenGeoMeshError, PayloadTooLarge
from opengeomesh.limits.rates import TooManyRequests
from opengeomesh.ocm.client import PeerUnavailable
from opengeomesh.ocm.payloads import OAuthError, parse_json, parse_token_request
from opengeomesh.ocm.signatures import InboundMessage, SignatureRefused

log = logging.getLogger("opengeomesh")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


def _answer(body: Any, status: int) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _failure(where: str) -> Response:
    log.exception("unexpected error in %s", where)
    failure = {"message": "INTERNAL_ERROR", "detail": "an unexpected error, now logged"}
    return _answer(failure, 500)


async def _message(request: Request) -> tuple[InboundMessage, dict[str, Any]]:
    services = services_of(request)
    body = await json_body(request, services.settings.max_ocm_body_bytes)
    payload = parse_json(body)
    message = InboundMessage.of(
        request.method, target_uri(request, services), request.headers.items(), body
    )
    return message, payload


def _unverifiable(exc: PeerUnavailable) -> SignatureRefused:
    log.info("cannot verify a sender: %s", exc.detail)
    return SignatureRefused(f"SIGNATURE_UNVERIFIABLE: {exc.detail}")


async def _answer_ocm(
    request: Request, where: str, act: Callable[[InboundMessage, dict[str, Any]], Any]
) -> Response:
    """Read a signed OCM message, let ``act`` handle it in a worker thread, answer 201 with
    what it returns or the OCM error body."""
    try:
        message, payload = await _message(request)
        limit_sender(request, services_of(request), message)
        try:
            answer = await run_in_threadpool(act, message, payload)
        except PeerUnavailable as exc:
            raise _unverifiable(exc) from None
    except SignatureRefused as exc:
        count_refusal(request, services_of(request))
        return ocm_error(exc)
    except OpenGeoMeshError as exc:
        return ocm_error(exc)
    except Exception:
        return _failure(where)
    return _answer(answer, 201)


async def shares(request: Request) -> Response:
    """``POST /ocm/shares``: another server shares a collection with a user or group here."""
    federation = services_of(request).federation

    def receive(message: InboundMessage, payload: dict[str, Any]) -> dict[str, str]:
        return {"recipientDisplayName": federation.receive_share(message, payload)}

    return await _answer_ocm(request, "/ocm/shares", receive)


async def notifications(request: Request) -> Response:
    """``POST /ocm/notifications``: news about a share, from the server at its other end."""
    federation = services_of(request).federation

    def receive(message: InboundMessage, payload: dict[str, Any]) -> dict[str, str]:
        federation.receive_notification(message, payload)
        return {}

    return await _answer_ocm(request, "/ocm/notifications", receive)


def _oauth_error(
    error: str, description: str, status: int = 400, retry_after: int | None = None
) -> Response:
    headers = dict(NO_STORE)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if status == 401:
        headers["WWW-Authenticate"] = 'Signature realm="ocm"'
    body = {"error": error, "error_description": description}
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


async def token(request: Request) -> Response:
    """``POST /ocm/token`` (our ``tokenEndPoint``): a share's secret for an access token."""
    services = services_of(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        body = await read_body(request, services.settings.max_ocm_body_bytes)
        grant = parse_token_request(media, body)
        message = InboundMessage.of(
            request.method, target_uri(request, services), request.headers.items(), body
        )
        limit_sender(request, services, message)
        issued = await run_in_threadpool(services.federation.issue_token, message, grant)
    except OAuthError as exc:
        return _oauth_error(exc.error, exc.detail, exc.status)
    except TooManyRequests as exc:  # RFC 6749 has no code for it: RFC 6585's 429 tells
        return _oauth_error("temporarily_unavailable", exc.detail, 429, exc.retry_after)
    except (SignatureRefused, PeerUnavailable) as exc:
        if isinstance(exc, SignatureRefused):
            count_refusal(request, services)
        return _oauth_error("invalid_client", exc.detail, 401)
    except PayloadTooLarge as exc:
        return _oauth_error("invalid_request", exc.detail, 413)
    except Busy as exc:
        return _oauth_error("temporarily_unavailable", exc.detail, 503)
    except OpenGeoMeshError as exc:  # the trust policy refused the server
        return _oauth_error("unauthorized_client", exc.detail, 400)
    except Exception:
        log.exception("unexpected error in /ocm/token")
        return _oauth_error("server_error", "an unexpected error, now logged", 500)
    answer = {"access_token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in}
    return Response(orjson.dumps(answer), 200, headers=NO_STORE, media_type="application/json")
