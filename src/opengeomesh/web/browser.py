"""The browser side of a workspace request: the session, CSRF checks, forms, and page answers."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from opengeomesh.accounts.models import Caller, User
from opengeomesh.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OpenGeoMeshError,
    PayloadTooLarge,
)
from opengeomesh.ocm.client import PeerUnavailable
from opengeomesh.services import Services
from opengeomesh.web.pages import render
from opengeomesh.web.session import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SIGN_IN_COOKIE,
    Session,
    Sessions,
    load_key,
)
from opengeomesh.web.wording import plain

SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 64 * 1024
PREFIX = "/web"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline';"
        " script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self';"
        " base-uri 'none'; object-src 'none'"
    ),
}


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def sessions_of(request: Request) -> Sessions:
    """The app's sessions, made on first use with the key of its data directory."""
    state = request.app.state
    found: Sessions | None = getattr(state, "web_sessions", None)
    if found is None:
        services = services_of(request)
        key = load_key(services.settings.data_dir / "keys")
        found = Sessions(key, services.stores.accounts, lifetime_seconds=SESSION_SECONDS)
        state.web_sessions = found
    return found


def secure_cookies(request: Request) -> bool:
    """Cookies are ``Secure`` when the server's public URL is https."""
    public = services_of(request).settings.public_url or str(request.base_url)
    return public.startswith("https://")


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in user of a page request."""

    caller: Caller
    session: Session
    csrf: str

    @property
    def user(self) -> User:
        assert self.caller.user is not None
        return self.caller.user


def signed_in(request: Request) -> WebUser | None:
    sessions = sessions_of(request)
    session = sessions.read(request.cookies.get(COOKIE))
    if session is None:
        return None
    caller = sessions.caller(session)
    if caller is None:
        return None
    return WebUser(caller, session, sessions.csrf_token(session))


def api_session_caller(request: Request) -> Caller | None:
    """The caller of an API request made by the workspace's own pages: the session cookie
    together with the session's CSRF token in ``X-OGM-CSRF``; None without that header. A
    wrong token or an ended session is refused rather than treated as anonymous."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        return None
    sessions = sessions_of(request)
    session = sessions.read(request.cookies.get(COOKIE))
    caller = None if session is None else sessions.caller(session)
    if session is None or caller is None:
        raise Forbidden("the web session has ended: sign in again")
    if not sessions.csrf_ok(session, given):
        raise Forbidden(f"the {CSRF_HEADER} header does not belong to this session")
    return caller


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise InvalidInput("body", "send the form as application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge("the form is too large")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def local_path(target: str | None) -> str:
    """A place in the workspace to return to; anything else goes to the layers page."""
    unsafe = ("\\", "\r", "\n")
    if target and target.startswith(PREFIX + "/") and not any(c in target for c in unsafe):
        return target
    return f"{PREFIX}/layers"


def redirect(path: str, **notice: str) -> RedirectResponse:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in notice.items())
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"{PREFIX}/sign-in", next=target)


def page(
    request: Request, template: str, web: WebUser | None, *, status: int = 200, **context: Any
) -> Response:
    """A workspace page, with the user, their CSRF token and the security headers."""
    inbox = 0
    if web is not None:
        inbox = context.pop("pending", None) or _pending(request, web)
    response = render(
        request,
        template,
        headers=dict(SECURITY_HEADERS),
        web=web,
        prefix=PREFIX,
        csrf_field=CSRF_FIELD,
        inbox_count=inbox,
        notice=context.pop("notice", None) or notice_of(request),
        **context,
    )
    response.status_code = status
    return response


def _pending(request: Request, web: WebUser) -> int:
    shares = services_of(request).federation.inbox.shares(web.caller)
    return sum(1 for s in shares if s.state.value == "pending")


NOTICES = {
    "signed-out": "You are signed out.",
    "share-sent": "The share was sent.",
    "share-changed": "The permission was changed; it holds from the next request.",
    "share-revoked": "The share was revoked; its access stopped at once.",
    "share-accepted": "The share was accepted; the layer is on your map now.",
    "share-declined": "The share was declined.",
    "invite-accepted": "The invite was accepted.",
    "peer-changed": "The server's trust was changed.",
    "rule-changed": "The sharing rules were changed.",
}


def notice_of(request: Request) -> str | None:
    """A fixed message named by ``done`` after a form's redirect (never free text)."""
    return NOTICES.get(request.query_params.get("done", ""))


def status_of(exc: OpenGeoMeshError) -> int:
    for kind, status in (
        (NotFound, 404),
        (Forbidden, 403),
        (Conflict, 409),
        (PeerUnavailable, 502),
        (InvalidInput, 400),
    ):
        if isinstance(exc, kind):
            return status
    return 400


async def guard(
    request: Request, build: Callable[[WebUser], Awaitable[Response]], *, form: bool = False
) -> Response:
    """Run a page: sign-in first; a form's CSRF token checked; domain errors as a page."""
    web = signed_in(request)
    if web is None:
        if form:
            return page(
                request,
                "web/problem.html",
                None,
                status=403,
                title="Signed out",
                message="Your session has ended. Sign in again and repeat what you did.",
            )
        return to_sign_in(request)
    try:
        return await build(web)
    except OpenGeoMeshError as exc:
        return page(
            request,
            "web/problem.html",
            web,
            status=status_of(exc),
            title="That did not work",
            message=plain(exc),
        )


async def form_of(request: Request, web: WebUser) -> dict[str, str]:
    """The form of a POST, after its CSRF token was checked (a body that is no form carries no
    token, so it is refused the same way)."""
    try:
        form = await read_form(request)
    except InvalidInput:
        form = {}
    if not sessions_of(request).csrf_ok(web.session, form.get(CSRF_FIELD)):
        raise Forbidden("the form is out of date (its security token does not match): reload")
    return form


def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
    """A domain call in the thread pool (database work and calls to other servers)."""
    return run_in_threadpool(function, *args, **kwargs)


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


__all__ = ["SIGN_IN_COOKIE", "WebUser", "call", "form_of", "guard", "page", "redirect"]
