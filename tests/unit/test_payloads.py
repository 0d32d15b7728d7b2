"""Reading share, notification and token messages: tolerant of the older forms peers send,
strict about what matters (docs/protocol.md)."""

from typing import Any

import pytest

from opengeomesh.errors import InvalidInput
from opengeomesh.ocm.models import SharingRule
from opengeomesh.ocm.payloads import (
    OAuthError,
    Unsupported,
    parse_notification,
    parse_share,
    parse_token_request,
)

HERE, THERE = "b.example", "a.example"


def NO_PREFIX(host: str) -> None:
    """A sender without an ogcapi prefix."""


def payload(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "shareWith": f"bob@{HERE}",
        "name": "Fire hydrants",
        "providerId": "p1",
        "owner": f"alice@{THERE}",
        "sender": f"alice@{THERE}",
        "shareType": "user",
        "resourceType": "feature-collection",
        "protocol": {
            "name": "multi",
            "ogcapi": {
                "uri": f"https://{THERE}/collections/hydrants",
                "sharedSecret": "s" * 24,
                "permissions": ["read", "write"],
                "requirements": ["must-exchange-token"],
            },
        },
    }
    body.update(changes)
    return body


def ogcapi(**changes: Any) -> dict[str, Any]:
    return {"name": "multi", "ogcapi": {**payload()["protocol"]["ogcapi"], **changes}}


def test_plain_http_only_with_the_development_switch() -> None:
    plain = payload(protocol=ogcapi(uri=f"http://{THERE}/collections/hydrants"))
    with pytest.raises(InvalidInput) as caught:
        parse_share(plain, HERE, NO_PREFIX)
    assert caught.value.field == "protocol.ogcapi.uri"
    assert parse_share(plain, HERE, NO_PREFIX, allow_http=True).uri.startswith("http://")


def test_a_share_is_read() -> None:
    share = parse_share(payload(), HERE, NO_PREFIX)
    assert share.recipient == "bob" and share.sender_host == THERE
    assert share.permission == "write"
    assert share.uri == f"https://{THERE}/collections/hydrants"


def test_older_forms_are_accepted() -> None:
    aliased = ogcapi()
    aliased["ogcapi"]["url"] = aliased["ogcapi"].pop("uri")
    assert parse_share(payload(protocol=aliased), HERE, NO_PREFIX).uri.endswith("/hydrants")
    legacy = {"name": "ogcapi", "options": payload()["protocol"]["ogcapi"]}
    assert parse_share(payload(protocol=legacy), HERE, NO_PREFIX).permission == "write"
    relative = parse_share(
        payload(protocol=ogcapi(uri="collections/hydrants")),
        HERE,
        lambda host: f"https://{host}/maps/",
    )
    assert relative.uri == f"https://{THERE}/maps/collections/hydrants"
    scheme = parse_share(payload(shareWith=f"acct:bob@{HERE}"), HERE, NO_PREFIX)
    assert scheme.recipient == "bob"
    read_only = parse_share(payload(protocol=ogcapi(permissions=["read"])), HERE, NO_PREFIX)
    assert read_only.permission == "read"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"shareWith": "bob@elsewhere.example"}, "shareWith"),
        ({"providerId": ""}, "providerId"),
        ({"owner": "mallory@evil.example"}, "owner"),
        ({"protocol": ogcapi(uri="https://evil.example/collections/x")}, "protocol.ogcapi.uri"),
        ({"protocol": ogcapi(uri="collections/x")}, "protocol.ogcapi.uri"),
        ({"protocol": ogcapi(uri=f"https://{THERE}/c?x=1")}, "protocol.ogcapi.uri"),
        ({"protocol": ogcapi(sharedSecret="short")}, "protocol.ogcapi.sharedSecret"),
        ({"protocol": ogcapi(permissions=["write"])}, "protocol.ogcapi.permissions"),
        ({"protocol": ogcapi(requirements=[])}, "protocol.ogcapi.requirements"),
        ({"protocol": ogcapi(requirements=["must-use-mfa"])}, "protocol.ogcapi.requirements"),
        ({"protocol": ogcapi(requirements=[{}])}, "protocol.ogcapi.requirements"),
        ({"protocol": "ogcapi"}, "protocol"),
        ({"name": "x\u0000y"}, "name"),
        ({"protocol": ogcapi(uri="http://[::1")}, "protocol.ogcapi.uri"),
        ({"protocol": ogcapi(uri=f"https://eve@{THERE}/c")}, "protocol.ogcapi.uri"),
    ],
)
def test_bad_shares_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_share(payload(**changes), HERE, NO_PREFIX)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "changes",
    [
        {"resourceType": "file"},
        {"shareType": "federation"},
        {"protocol": {"name": "multi", "webdav": {"uri": "x", "sharedSecret": "y"}}},
    ],
)
def test_unsupported_shares(changes: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        parse_share(payload(**changes), HERE, NO_PREFIX)


def test_notifications() -> None:
    note = parse_notification({"notificationType": "SHARE_ACCEPTED", "providerId": "p1"})
    assert note.kind == "SHARE_ACCEPTED" and note.details == {}
    with pytest.raises(Unsupported):
        parse_notification({"notificationType": "REQUEST_RESHARE", "providerId": "p1"})
    with pytest.raises(Unsupported):
        parse_notification(
            {"notificationType": "SHARE_UNSHARED", "providerId": "p1", "resourceType": "file"}
        )
    with pytest.raises(InvalidInput):
        parse_notification({"notificationType": "SHARE_UNSHARED"})


def test_token_requests() -> None:
    form = b"grant_type=authorization_code&client_id=b.example&code=abc&redirect_uri=x"
    assert parse_token_request("application/x-www-form-urlencoded", form).code == "abc"
    json_body = b'{"grant_type": "ocm_authorization_code", "client_id": "b", "code": "c"}'
    assert parse_token_request("application/json", json_body).client_id == "b"
    for media, body, error in [
        (
            "application/x-www-form-urlencoded",
            b"grant_type=password&client_id=b&code=c",
            "unsupported_grant_type",
        ),
        (
            "application/x-www-form-urlencoded",
            b"grant_type=authorization_code&code=c",
            "invalid_request",
        ),
        (
            "application/x-www-form-urlencoded",
            b"code=a&code=b&grant_type=x&client_id=b",
            "invalid_request",
        ),
        ("text/plain", b"", "invalid_request"),
        ("application/json", b"[1]", "invalid_request"),
    ]:
        with pytest.raises(OAuthError) as caught:
            parse_token_request(media, body)
        assert caught.value.error == error


def test_sharing_rules_match_hosts() -> None:
    assert SharingRule("c", "*", "read").matches("any.example")
    assert SharingRule("c", "*.leitstelle.example", "read").matches("nord.leitstelle.example")
    assert not SharingRule("c", "*.leitstelle.example", "read").matches("leitstelle.example")
    assert not SharingRule("c", "*.leitstelle.example", "read").matches("evilleitstelle.example")
    assert SharingRule("c", "b.example", "read").matches("b.example")
    assert SharingRule("c", "*.leitstelle.example", "read").matches("nord.leitstelle.example:8443")
    assert not SharingRule("c", "b.example", "read").matches("b.example:8443")
