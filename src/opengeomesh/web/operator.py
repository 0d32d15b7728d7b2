"""Workspace pages for operators: peers and the trust policy, a layer's sharing rules, and a
layer's record of changes (the latter also for its owner)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from opengeomesh.accounts.directory import require_admin
from opengeomesh.errors import InvalidInput
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
from opengeomesh.web.layers import one_layer

PEER_STATUS = ("trusted", "blocked", "none")
RULE_PERMISSIONS = ("none", "read", "write")


async def peers_page(request: Request) -> Response:
    async def build(web: WebUser) -> Response:
        require_admin(web.caller)
        services = services_of(request)
        peers = await call(services.federation.policy.peers)
        return page(
            request,
            "web/peers.html",
            web,
            peers=peers,
            trust_mode=services.settings.trust_mode,
            host=services.federation.host,
        )

    return await guard(request, build)


async def peer_set(request: Request) -> Response:
    async def build(web: WebUser) -> Response:
        form = await form_of(request, web)
        require_admin(web.caller)
        status = form.get("status", "")
        if status not in PEER_STATUS:
            raise InvalidInput("status", "choose trusted, blocked or none")
        policy = services_of(request).federation.policy
        change = {"trusted": policy.trust, "blocked": policy.block, "none": policy.forget}[status]
        await call(change, form.get("host", ""))
        return redirect(f"{PREFIX}/operator/peers", done="peer-changed")

    return await guard(request, build, form=True)


async def rules_page(request: Request) -> Response:
    layer_id = request.path_params["layer_id"]

    async def build(web: WebUser) -> Response:
        services = services_of(request)
        layer = await call(one_layer, services, web.caller, layer_id)
        rules = await call(services.federation.sharing.rules, web.caller, layer_id)
        return page(request, "web/rules.html", web, layer=layer, rules=rules)

    return await guard(request, build)


async def rules_post(request: Request) -> Response:
    layer_id = request.path_params["layer_id"]

    async def build(web: WebUser) -> Response:
        form = await form_of(request, web)
        sharing = services_of(request).federation.sharing
        domain = form.get("domain", "").strip()
        if form.get("action") == "remove":
            await call(sharing.remove_rule, web.caller, layer_id, domain)
        else:
            permission = form.get("permission", "")
            if permission not in RULE_PERMISSIONS:
                raise InvalidInput("permission", "choose none, read or write")
            await call(sharing.set_rule, web.caller, layer_id, domain, permission)
        return redirect(f"{PREFIX}/layers/{layer_id}/rules", done="rule-changed")

    return await guard(request, build, form=True)


async def changes_page(request: Request) -> Response:
    layer_id = request.path_params["layer_id"]

    async def build(web: WebUser) -> Response:
        services = services_of(request)
        layer = await call(one_layer, services, web.caller, layer_id)
        changes = await call(services.editing.changes, web.caller, layer_id, limit=200)
        return page(request, "web/changes.html", web, layer=layer, changes=changes)

    return await guard(request, build)
