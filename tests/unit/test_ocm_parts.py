"""OCM building blocks: addresses, invite strings, discovery parsing, the address guard and the
keyring. The trust policy is tested with the federation store, in tests/storage."""

import base64
from pathlib import Path

import httpx
import pytest

from opengeomesh.errors import InvalidInput
from opengeomesh.ocm.addresses import OcmAddress, host_of_url, normalise_host
from opengeomesh.ocm.client import PeerUnavailable, address_allowed
from opengeomesh.ocm.discovery import parse_discovery
from opengeomesh.ocm.invites import decode_invite, encode_invite
from opengeomesh.ocm.signatures import RequestSigner
from opengeomesh.services import Services


@pytest.mark.parametrize(
    ("text", "identifier", "host"),
    [
        ("alice@feuerwehr.example", "alice", "feuerwehr.example"),
        ("alice@Feuerwehr.Example:8443", "alice", "feuerwehr.example:8443"),
        ("a.b@c.example@leitstelle.example", "a.b@c.example", "leitstelle.example"),
        ("Einsatzleitung.FFW@[2001:db8::1]:9000", "Einsatzleitung.FFW", "[2001:db8::1]:9000"),
        ("uuid==@https://ocis.example/", "uuid==", "ocis.example"),
        ("bob@127.0.0.1:8001", "bob", "127.0.0.1:8001"),
    ],
)
def test_addresses(text: str, identifier: str, host: str) -> None:
    address = OcmAddress.parse(text)
    assert (address.identifier, address.host) == (identifier, host)
    assert str(address) == f"{identifier}@{host}"


@pytest.mark.parametrize(
    "text",
    [
        "alice",
        "@host.example",
        "alice@",
        "alice@host/path",
        "alice@[::1",
        "a@h:0",
        "a@h:99999",
        "a@-bad-.example",
        "a@[zz::1]",
    ],
)
def test_bad_addresses(text: str) -> None:
    with pytest.raises(InvalidInput):
        OcmAddress.parse(text)


def test_host_of_url() -> None:
    assert host_of_url("https://maps.example.org/ogm") == "maps.example.org"
    assert host_of_url("https://maps.example.org:443/") == "maps.example.org"
    assert host_of_url("http://127.0.0.1:8001") == "127.0.0.1:8001"
    assert normalise_host("[::1]:80") == "[::1]:80"


def test_invite_strings() -> None:
    text = encode_invite("tok-en_1", "a.example:8001")
    assert "=" not in text and "+" not in text and "/" not in text
    assert decode_invite(text) == ("tok-en_1", "a.example:8001")
    plain = base64.b64encode(b"x/y+z@b.example").decode()  # draft -05: standard alphabet
    assert decode_invite(plain) == ("x/y+z", "b.example")
    for bad in ("!!!", base64.urlsafe_b64encode(b"no-at-sign").decode(), ""):
        with pytest.raises(InvalidInput):
            decode_invite(bad)


def test_discovery_parsing_is_tolerant() -> None:
    old = {
        "enabled": True,
        "apiVersion": "1.1.0",
        "endpoint": "https://old.example/ocm/",
        "provider": "Old",
        "capabilities": ["/invite-accepted", "/notifications"],
        "criteria": ["http-request-signatures"],
        "resourceTypes": [
            {"name": "file", "shareTypes": ["user"], "protocols": {"webdav": "/dav/"}}
        ],
    }
    server = parse_discovery("old.example", old)
    assert server.end_point == "https://old.example/ocm"
    assert server.capabilities == {"invites", "notifications"}
    assert server.criteria == {"must-use-http-sig"}
    new = {
        "enabled": True,
        "apiVersion": "1.4.0",
        "endPoint": "https://n.example/ocm",
        "capabilities": ["http-sig"],
        "jwksUri": "https://n.example/jwks",
        "resourceTypes": [
            {
                "name": "feature-collection",
                "shareTypes": ["user", "group"],
                "protocols": {"ogcapi": "/", "ogcapi-receive": {}},
            }
        ],
    }
    parsed = parse_discovery("n.example", new)
    assert parsed.signs and parsed.provider == "n.example"
    assert parsed.resource_types["feature-collection"]["protocols"]["ogcapi-receive"] == {}
    for bad in ([], {"enabled": False, "endPoint": "https://x/ocm"}, {"endPoint": "/ocm"}):
        with pytest.raises(PeerUnavailable):
            parse_discovery("x", bad)


@pytest.mark.parametrize(
    ("ip", "public", "private"),
    [
        ("8.8.8.8", True, True),
        ("127.0.0.1", False, True),
        ("10.1.2.3", False, True),
        ("172.16.0.1", False, True),
        ("192.168.0.1", False, True),
        ("100.64.0.1", False, False),
        ("169.254.169.254", False, False),
        ("::1", False, True),
        ("fe80::1", False, False),
        ("::ffff:10.0.0.1", False, True),
        ("::ffff:8.8.8.8", True, True),
        ("0.0.0.0", False, False),
        ("224.0.0.1", False, False),
        ("fd12::1", False, True),
        ("2606:4700::1", True, True),
        ("64:ff9b::a9fe:a9fe", False, False),
        ("::a9fe:a9fe", False, False),
        ("2002:a9fe:a9fe::1", False, False),
        ("64:ff9b::808:808", True, True),
    ],
)
def test_address_guard(ip: str, public: bool, private: bool) -> None:
    assert address_allowed(ip, allow_private=False) is public
    assert address_allowed(ip, allow_private=True) is private


def test_keys_file_is_private_and_rotates(services: Services) -> None:
    keyring = services.federation.keyring
    path = services.settings.data_dir / "keys" / "signing-keys.json"
    assert path.stat().st_mode & 0o777 == 0o600
    first = keyring.current.kid
    second = keyring.rotate().kid
    assert first != second and keyring.current.kid == second
    assert [k["kid"] for k in keyring.jwks()["keys"]] == [first, second]
    assert all(
        k["alg"] == "Ed25519" and k["kty"] == "OKP" and "d" not in k for k in keyring.jwks()["keys"]
    )
    assert path.stat().st_mode & 0o777 == 0o600


def test_hosts_are_compared_in_one_spelling() -> None:
    assert normalise_host("Example.ORG.") == "example.org"
    assert normalise_host("example.org:443") == "example.org"
    assert normalise_host("https://example.org:443/") == "example.org"
    assert normalise_host("example.org.:8443") == "example.org:8443"


def test_a_renamed_server_signs_under_its_new_name(tmp_path: Path) -> None:
    from datetime import timedelta

    from opengeomesh.ocm.keys import Keyring

    Keyring(tmp_path, "old.example", timedelta(days=1))
    stale = Keyring(tmp_path, "new.example", timedelta(days=1))
    assert not stale.names_this_host()
    with pytest.raises(InvalidInput, match="public_url"):
        RequestSigner(stale).sign(httpx.Request("POST", "https://x.example/ocm", content=b"{}"))
    renewed = Keyring(tmp_path, "new.example", timedelta(days=1), rotate_if_renamed=True)
    assert renewed.current.kid.startswith("new.example#")
    assert len(renewed.published()) == 2  # the old key stays published for its grace period


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("[::ffff:127.0.0.1]:18150", "127.0.0.1:18150"),
        ("[::ffff:7f00:1]:18150", "127.0.0.1:18150"),
        ("[0:0::1]", "[::1]"),
        ("[2001:DB8::1]:443", "[2001:db8::1]"),
    ],
)
def test_ip_literals_have_one_spelling(text: str, canonical: str) -> None:
    assert normalise_host(text) == canonical


@pytest.mark.parametrize(
    "text", ["2130706433:18150", "127.1", "0177.0.0.1", "x:¹", "x:²²", "1.2.3"]
)
def test_odd_numeric_hosts_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_host(text)


def test_discovery_with_wrong_types_is_refused_or_tolerated() -> None:
    doc = {
        "enabled": True,
        "endPoint": "https://x.example/ocm",
        "resourceTypes": 5,
        "capabilities": "http-sig",
        "criteria": [1, None],
    }
    server = parse_discovery("x.example", doc)
    assert server.resource_types == {} and server.capabilities == frozenset()
    doc["resourceTypes"] = [{"name": "file", "shareTypes": 5, "protocols": []}]
    assert parse_discovery("x.example", doc).resource_types["file"]["shareTypes"] == []
