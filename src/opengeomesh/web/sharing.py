"""Workspace pages of sharing: the share dialog (with the recipient's organisation shown before
sending), shares sent (permission, revoke), the inbox of shares received (accept, decline), and
invites (create and copy; accept, showing the inviting organisation first)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from opengeomesh.errors import InvalidInput, OpenGeoMeshError
from opengeomesh.ocm.addresses import OcmAddress
from opengeomesh.services import Services
from opengeomesh.web.browser import (
    PREFIX,
    WebUser,
    call,
    form_of,
    guard,
    page,
    redirect,
    services_of,
)
from opengeomesh.web.layers import one_layer, organisation_of
from opengeomesh.web.wording import plain

PERMISSIONS = ("read", "write")
SHARE_TYPES = ("user", "group")


def _choice(form: dict[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = form.get(name, allowed[0])
    if value not in allowed:
        raise InvalidInput(name, f"choose one of {', '.join(allowed)}")
    return value


def recipient_organisation(services: Services, address: str) -> tuple[str, str]:
    """The address, checked, and the organisation its server names in its discovery: our
    trust policy first (no call to a server it refuses), then discovery."""
    parsed = OcmAddress.parse(address, "address")
    federation = services.federation
    if parsed.host == federation.host:
        raise InvalidInput("address", "that is this server: share with local users instead")
    try:
        federation.policy.check(parsed.host)
    except OpenGeoMeshError as exc:
        raise type(exc)(f"trust policy: {exc.detail}") from None
    return str(parsed), federation.discovery.discover(parsed.host).provider


# --- the share dialog ------------------------------------------------------------------------


async def share_page(request: Request) -> Response:
    layer_id = request.path_params["layer_id"]

    async def build(web: WebUser) -> Response:
        layer = await call(one_layer, services_of(request), web.caller, layer_id)
        asked = {k: request.query_params.get(k, "") for k in ("address", "permission")}
        asked["share_type"] = request.query_params.get("share_type", "")
        return page(request, "web/share.html", web, layer=layer, form=asked, step="ask")

    return await guard(request, build)


async def share_post(request: Request) -> Response:
    """Both steps of the dialog: ``check`` shows the recipient's organisation, ``send`` shares."""
    layer_id = request.path_params["layer_id"]

    async def build(web: WebUser) -> Response:
        form = await form_of(request, web)
        services = services_of(request)
        layer = await call(one_layer, services, web.caller, layer_id)
        shown = {k: form.get(k, "") for k in ("address", "permission", "share_type")}
        try:
            permission = _choice(form, "permission", PERMISSIONS)
            share_type = _choice(form, "share_type", SHARE_TYPES)
            address, organisation = await call(
                recipient_organisation, services, form.get("address", "")
            )
            if form.get("step") != "send":
                return page(
                    request,
                    "web/share.html",
                    web,
                    layer=layer,
                    form=shown | {"address": address},
                    organisation=organisation,
                    step="confirm",
                )
            await call(
                services.federation.share, web.caller, layer.id, address, permission, share_type
            )
        except OpenGeoMeshError as exc:
            return page(
                request,
                "web/share.html",
                web,
                status=400,
                layer=layer,
                form=shown,
                step="ask",
                error=plain(exc),
            )
        return redirect(f"{PREFIX}/shares/sent", done="share-sent")

    return await guard(request, build, form=True)


# --- shares sent ---------------------------------------------------------------------------------


async def sent_page(request: Request) -> Response:
    async def build(web: WebUser) -> Response:
        shares = await call(services_of(request).federation.sharing.shares, web.caller)
        return page(request, "web/sent.html", web, shares=shares)

    return await guard(request, build)


async def sent_permission(request: Request) -> Response:
    share_id = _id(request)

    async def build(web: WebUser) -> Response:
        form = await form_of(request, web)
        federation = services_of(request).federation
        permission = _choice(form, "permission", PERMISSIONS)
        await call(federation.sharing.update, web.caller, share_id, permission)
        federation.outbox.wake()
        return redirect(f"{PREFIX}/shares/sent", done="share-changed")

    return await guard(request, build, form=True)


async def sent_revoke(request: Request) -> Response:
    share_id = _id(request)

    async def build(web: WebUser) -> Response:
        await form_of(request, web)
        federation = services_of(request).federation
        await call(federation.sharing.revoke, web.caller, share_id)
        federation.outbox.wake()
        return redirect(f"{PREFIX}/shares/sent", done="share-revoked")

    return await guard(request, build, form=True)


def _id(request: Request) -> int:
    text = str(request.path_params["share_id"])
    if not text.isdigit() or not 0 < int(text) < 2**63:
        return 0  # the domain answers "no share 0"
    return int(text)


# --- shares received -----------------------------------------------------------------------------


async def inbox_page(request: Request) -> Response:
    async def build(web: WebUser) -> Response:
        services = services_of(request)
        shares = await call(services.federation.inbox.shares, web.caller)
        pending = sum(1 for s in shares if s.state.value == "pending")
        hosts = {s.sender_host for s in shares}
        names = {h: await call(organisation_of, services, h) for h in hosts}
        return page(
            request, "web/inbox.html", web, shares=shares, pending=pending, organisations=names
        )

    return await guard(request, build)


async def inbox_accept(request: Request) -> Response:
    return await _decide(request, accept=True)


async def inbox_decline(request: Request) -> Response:
    return await _decide(request, accept=False)


async def _decide(request: Request, *, accept: bool) -> Response:
    share_id = _id(request)

    async def build(web: WebUser) -> Response:
        await form_of(request, web)
        federation = services_of(request).federation
        share = await call(federation.inbox.decide, web.caller, share_id, accept=accept)
        federation.outbox.wake()
        if accept:
            return redirect(f"{PREFIX}/layers/{share.mount_id}", done="share-accepted")
        return redirect(f"{PREFIX}/shares/received", done="share-declined")

    return await guard(request, build, form=True)


# --- invites --------------------------------------------------------------------------------


async def invites_page(request: Request) -> Response:
    async def build(web: WebUser) -> Response:
        return await _invites(request, web)

    return await guard(request, build)


async def _invites(request: Request, web: WebUser, **extra: Any) -> Response:
    invites = services_of(request).federation.invites
    mine = await call(invites.of, web.caller)
    contacts = await call(invites.contacts, web.caller)
    return page(request, "web/invites.html", web, invites=mine, contacts=contacts, **extra)


async def invite_create(request: Request) -> Response:
    async def build(web: WebUser) -> Response:
        await form_of(request, web)
        issued = await call(services_of(request).federation.invites.create, web.caller)
        return await _invites(request, web, issued=issued)

    return await guard(request, build, form=True)


async def accept_invite_page(request: Request) -> Response:
    """Accepting an invite: first the inviting organisation (from its server's discovery),
    then the button. Also the target of our ``inviteAcceptDialog`` page's button."""
    invite = request.query_params.get("invite", "").strip()

    async def build(web: WebUser) -> Response:
        if not invite:
            return page(request, "web/accept_invite.html", web, invite="")
        try:
            host, organisation = await call(services_of(request).federation.invites.preview, invite)
        except OpenGeoMeshError as exc:
            return page(
                request, "web/accept_invite.html", web, status=400, invite=invite, error=plain(exc)
            )
        return page(
            request,
            "web/accept_invite.html",
            web,
            invite=invite,
            host=host,
            organisation=organisation,
        )

    return await guard(request, build)


async def accept_invite(request: Request) -> Response:
    async def build(web: WebUser) -> Response:
        form = await form_of(request, web)
        invite = form.get("invite", "").strip()
        try:
            accepted = await call(
                services_of(request).federation.invites.accept, web.caller, invite
            )
        except OpenGeoMeshError as exc:
            return page(
                request, "web/accept_invite.html", web, status=400, invite=invite, error=plain(exc)
            )
        return page(request, "web/accept_invite.html", web, invite="", accepted=accepted)

    return await guard(request, build, form=True)
