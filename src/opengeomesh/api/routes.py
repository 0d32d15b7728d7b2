"""The one route table of the HTTP API: OGC API – Features, the API document, management."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.responses import StreamingResponse

from opengeomesh.api import (
    manage,
    manage_federation,
    manage_shares,
    manage_upstreams,
    manage_webhooks,
    ocm,
    ocm_sharing,
    ogc,
)
from opengeomesh.api import ogc_editing as editing
from opengeomesh.api.ogc_changes import changes
from opengeomesh.api.ogc_queryables import queryables
from opengeomesh.api.openapi import api_document, api_page
from opengeomesh.web import layers as web_layers
from opengeomesh.web import operator as web_operator
from opengeomesh.web import sharing as web_sharing

READ = ["GET", "HEAD"]
ITEM = "/collections/{collection_id}/items/{feature_id}"
MANAGE_TAG = "Management"


@dataclass(frozen=True)
class Route:
    path: str
    endpoint: Callable[..., Any]
    methods: list[str]
    summary: str
    status_code: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/geo+json": {
                "schema": {
                    "type": "object",
                    "required": ["type", "features"],
                    "properties": {
                        "type": {"type": "string", "enum": ["FeatureCollection"]},
                        "features": {"type": "array", "items": {"type": "object"}},
                    },
                }
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}
EXPORT_RESPONSE = {
    200: {
        "description": "Every feature, as one FeatureCollection",
        "content": {
            "application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}
        },
    }
}

OGC_ROUTES = [
    Route("/", ogc.landing_page, READ, "Landing page"),
    Route("/conformance", ogc.conformance, READ, "Conformance classes"),
    Route("/api", api_document, READ, "This API definition (OpenAPI 3.0)"),
    Route("/api.html", api_page, READ, "This API definition as HTML"),
    Route("/collections", ogc.collections, READ, "Collections you may read"),
    Route("/collections/{collection_id}", ogc.collection, READ, "One collection"),
    Route("/collections/{collection_id}/queryables", queryables, READ, "Queryables (Part 3)"),
    Route("/collections/{collection_id}/items", ogc.items, READ, "Features of a collection"),
    Route("/collections/{collection_id}/items/{feature_id}", ogc.item, READ, "One feature"),
    Route("/collections/{collection_id}/changes", changes, READ, "Changes (JSON or SSE)"),
    Route("/collections/{collection_id}/items", editing.create_item, ["POST"], "Add a feature"),
    Route("/collections/{collection_id}/items", editing.items_options, ["OPTIONS"], "Allowed"),
    Route(ITEM, editing.replace_item, ["PUT"], "Replace a feature"),
    Route(ITEM, editing.update_item, ["PATCH"], "Change a feature (JSON Merge Patch)"),
    Route(ITEM, editing.delete_item, ["DELETE"], "Delete a feature"),
    Route(ITEM, editing.item_options, ["OPTIONS"], "What you may do with a feature"),
]

OCM_ROUTES = [
    Route("/.well-known/ocm", ocm.discovery, READ, "OCM discovery"),
    Route("/ocm-provider", ocm.discovery, READ, "OCM discovery (legacy path)"),
    Route("/ocm/jwks", ocm.jwks, READ, "JWK Set of our signing keys"),
    Route("/.well-known/jwks.json", ocm.jwks, READ, "JWK Set (path of older OCM drafts)"),
    Route("/ocm/invite-accepted", ocm.invite_accepted, ["POST"], "An invite was accepted"),
    Route("/ocm/shares", ocm_sharing.shares, ["POST"], "A share for a user or group here"),
    Route("/ocm/notifications", ocm_sharing.notifications, ["POST"], "News about a share"),
    Route("/ocm/token", ocm_sharing.token, ["POST"], "A share's secret for an access token"),
    Route("/ocm/invite", ocm.invite_page, READ, "Page of an invite link"),
    Route("/ocm/accept-invite", ocm.accept_invite_page, READ, "inviteAcceptDialog"),
]

MANAGE_ROUTES = [
    Route("/manage/upstreams", manage_upstreams.list_upstreams, READ, "List upstream servers"),
    Route(
        "/manage/upstreams",
        manage_upstreams.add_upstream,
        ["POST"],
        "Register an upstream OGC API server",
        201,
    ),
    Route(
        "/manage/upstreams/{name}",
        manage_upstreams.remove_upstream,
        ["DELETE"],
        "Forget an upstream server",
        204,
    ),
    Route(
        "/manage/upstreams/{name}/refresh",
        manage_upstreams.refresh_upstream,
        ["POST"],
        "Read an upstream's conformance again",
    ),
    Route(
        "/manage/upstreams/{name}/collections",
        manage_upstreams.expose_collection,
        ["POST"],
        "Expose an upstream collection as a local collection",
        201,
    ),
    Route("/manage/me", manage.me, READ, "The signed-in user"),
    Route("/manage/users", manage.list_users, READ, "List users"),
    Route("/manage/users", manage.add_user, ["POST"], "Add a user", 201),
    Route("/manage/users/{name}/tokens", manage.list_tokens, READ, "List a user's tokens"),
    Route("/manage/users/{name}/tokens", manage.create_token, ["POST"], "Create a token", 201),
    Route(
        "/manage/users/{name}/tokens/{token_id}",
        manage.delete_token,
        ["DELETE"],
        "Withdraw a token",
        204,
    ),
    Route("/manage/groups", manage.list_groups, READ, "List groups"),
    Route("/manage/groups", manage.add_group, ["POST"], "Add a group", 201),
    Route("/manage/groups/{name}/members", manage.add_member, ["POST"], "Add a group member"),
    Route("/manage/collections", manage.list_collections, READ, "List your collections"),
    Route("/manage/collections", manage.create_collection, ["POST"], "Create a collection", 201),
    Route(
        "/manage/collections/{collection_id}",
        manage.get_collection,
        READ,
        "A collection's settings",
    ),
    Route(
        "/manage/collections/{collection_id}",
        manage.update_collection,
        ["PATCH"],
        "Change a collection",
    ),
    Route(
        "/manage/collections/{collection_id}",
        manage.delete_collection,
        ["DELETE"],
        "Delete a collection",
        204,
    ),
    Route(
        "/manage/collections/{collection_id}/import",
        manage.import_features,
        ["POST"],
        "Import GeoJSON features",
        extra={"openapi_extra": IMPORT_BODY},
    ),
    Route(
        "/manage/collections/{collection_id}/export",
        manage.export_features,
        READ,
        "Export features as GeoJSON",
        extra={"responses": EXPORT_RESPONSE, "response_class": StreamingResponse},
    ),
    Route(
        "/manage/collections/{collection_id}/changes",
        manage.list_changes,
        READ,
        "Who changed which feature",
    ),
    Route(
        "/manage/collections/{collection_id}/grants",
        manage.list_grants,
        READ,
        "List local grants",
    ),
    Route(
        "/manage/collections/{collection_id}/grants",
        manage.put_grant,
        ["PUT"],
        "Grant read or write",
    ),
    Route(
        "/manage/collections/{collection_id}/grants/{subject}",
        manage.delete_grant,
        ["DELETE"],
        "Take a grant back",
        204,
    ),
    Route("/manage/invites", manage_federation.create_invite, ["POST"], "Make an invite", 201),
    Route("/manage/invites", manage_federation.list_invites, READ, "List your invites"),
    Route("/manage/invites/accept", manage_federation.accept_invite, ["POST"], "Accept an invite"),
    Route("/manage/contacts", manage_federation.list_contacts, READ, "List your contacts"),
    Route("/manage/peers", manage_federation.list_peers, READ, "List known servers"),
    Route("/manage/peers/{host}", manage_federation.set_peer, ["PUT"], "Trust or block a server"),
    Route("/manage/shares", manage_shares.create_share, ["POST"], "Share a collection", 201),
    Route("/manage/shares", manage_shares.list_shares, READ, "List your shares"),
    Route("/manage/shares/{share_id}", manage_shares.get_share, READ, "One of your shares"),
    Route(
        "/manage/shares/{share_id}",
        manage_shares.update_share,
        ["PATCH"],
        "Change a share's permission",
    ),
    Route(
        "/manage/shares/{share_id}", manage_shares.revoke_share, ["DELETE"], "Revoke a share", 204
    ),
    Route(
        "/manage/received-shares",
        manage_shares.list_received,
        READ,
        "Shares other servers sent you",
    ),
    Route(
        "/manage/received-shares/{share_id}",
        manage_shares.get_received,
        READ,
        "One share you received",
    ),
    Route(
        "/manage/received-shares/{share_id}/accept",
        manage_shares.accept_received,
        ["POST"],
        "Accept a share",
    ),
    Route(
        "/manage/received-shares/{share_id}/decline",
        manage_shares.decline_received,
        ["POST"],
        "Decline a share",
    ),
    Route(
        "/manage/received-shares/{share_id}/access",
        manage_shares.access_received,
        ["POST"],
        "A token for direct access to the sender's server",
    ),
    Route(
        "/manage/collections/{collection_id}/sharing-rules",
        manage_shares.list_rules,
        READ,
        "The sharing rules of a collection",
    ),
    Route(
        "/manage/collections/{collection_id}/sharing-rules/{domain}",
        manage_shares.put_rule,
        ["PUT"],
        "Let a collection go to some peers",
    ),
    Route(
        "/manage/collections/{collection_id}/sharing-rules/{domain}",
        manage_shares.delete_rule,
        ["DELETE"],
        "Remove a sharing rule",
        204,
    ),
    Route("/manage/webhooks", manage_webhooks.list_webhooks, READ, "List webhook endpoints"),
    Route("/manage/webhooks", manage_webhooks.create_webhook, ["POST"], "Register a webhook", 201),
    Route("/manage/webhooks/{webhook_id}", manage_webhooks.get_webhook, READ, "One webhook"),
    Route(
        "/manage/webhooks/{webhook_id}",
        manage_webhooks.delete_webhook,
        ["DELETE"],
        "Remove a webhook endpoint",
        204,
    ),
    Route(
        "/manage/webhooks/{webhook_id}/test",
        manage_webhooks.send_test,
        ["POST"],
        "Send a test event to a webhook endpoint",
    ),
    Route(
        "/manage/webhooks/{webhook_id}/deliveries",
        manage_webhooks.list_deliveries,
        READ,
        "Deliveries to a webhook endpoint, with their status",
    ),
]

W = "/web"
WEB_ROUTES = [  # the workspace's pages (HTML, session cookie, CSRF token on every form)
    Route(W, web_layers.home, READ, "The workspace"),
    Route(f"{W}/sign-in", web_layers.sign_in_page, READ, "Sign-in page"),
    Route(f"{W}/sign-in", web_layers.sign_in, ["POST"], "Sign in with a personal token"),
    Route(f"{W}/sign-out", web_layers.sign_out, ["POST"], "Sign out"),
    Route(f"{W}/layers", web_layers.layers_page, READ, "My layers on one map"),
    Route(f"{W}/layers/{{layer_id}}", web_layers.layer_page, READ, "A layer: map, features"),
    Route(f"{W}/layers/{{layer_id}}/share", web_sharing.share_page, READ, "Share dialog"),
    Route(f"{W}/layers/{{layer_id}}/share", web_sharing.share_post, ["POST"], "Check, share"),
    Route(f"{W}/layers/{{layer_id}}/rules", web_operator.rules_page, READ, "Sharing rules"),
    Route(f"{W}/layers/{{layer_id}}/rules", web_operator.rules_post, ["POST"], "Change rules"),
    Route(f"{W}/layers/{{layer_id}}/changes", web_operator.changes_page, READ, "Change log"),
    Route(f"{W}/shares/sent", web_sharing.sent_page, READ, "Shares sent"),
    Route(
        f"{W}/shares/sent/{{share_id}}/permission",
        web_sharing.sent_permission,
        ["POST"],
        "Change a share's permission",
    ),
    Route(f"{W}/shares/sent/{{share_id}}/revoke", web_sharing.sent_revoke, ["POST"], "Revoke"),
    Route(f"{W}/shares/received", web_sharing.inbox_page, READ, "Inbox"),
    Route(f"{W}/shares/received/{{share_id}}/accept", web_sharing.inbox_accept, ["POST"], "Accept"),
    Route(
        f"{W}/shares/received/{{share_id}}/decline", web_sharing.inbox_decline, ["POST"], "Decline"
    ),
    Route(f"{W}/invites", web_sharing.invites_page, READ, "Invites and contacts"),
    Route(f"{W}/invites", web_sharing.invite_create, ["POST"], "Make an invite"),
    Route(f"{W}/invites/accept", web_sharing.accept_invite_page, READ, "Who invites you"),
    Route(f"{W}/invites/accept", web_sharing.accept_invite, ["POST"], "Accept an invite"),
    Route(f"{W}/operator/peers", web_operator.peers_page, READ, "Peers, trust policy"),
    Route(f"{W}/operator/peers", web_operator.peer_set, ["POST"], "Trust or block a server"),
]


def install_routes(app: FastAPI) -> None:
    """Add every route of the table to ``app``."""
    for route in OGC_ROUTES + OCM_ROUTES + WEB_ROUTES:
        app.add_api_route(
            route.path,
            route.endpoint,
            methods=route.methods,
            summary=route.summary,
            include_in_schema=False,
        )
    for route in MANAGE_ROUTES:
        options: dict[str, Any] = dict(route.extra)
        if route.status_code is not None:
            options["status_code"] = route.status_code
        if route.status_code == 204:
            options["response_model"] = None
        methods = [m for m in route.methods if m != "HEAD"]
        app.add_api_route(
            route.path,
            route.endpoint,
            methods=methods,
            summary=route.summary,
            tags=[MANAGE_TAG],
            operation_id=route.endpoint.__name__,  # what generated clients name the call
            **options,
        )
        if "HEAD" in route.methods:  # answered like GET; described once, under GET
            app.add_api_route(route.path, route.endpoint, methods=["HEAD"], include_in_schema=False)
