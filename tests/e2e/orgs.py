"""Organisations for end-to-end tests: each a real server with its own data directory, and
the official OCM OpenAPI document to check payloads against."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_schema_validator import OAS30Validator

from opengeomesh.ocm.keys import Keyring
from tests.conftest import Server, cli, free_port, start_server

SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ocm" / "spec.yaml"


@dataclass
class Org:
    """One organisation's server."""

    data: Path
    host: str
    url: str
    server: Server | None

    def cli(self, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
        return cli(*args, data=self.data, check=check)

    def keyring(self) -> Keyring:
        return Keyring(self.data / "keys", self.host, timedelta(days=7))


def make_org(
    base: Path,
    name: str,
    organisation: str,
    *,
    private: bool = True,
    run: bool = True,
    config: str = "",
    workers: int = 1,
) -> Org:
    """An organisation's server on a free loopback port; ``workers`` > 1 starts it with
    ``serve --workers``."""
    port = free_port()
    data = base / name / "data"
    data.mkdir(parents=True)
    (data / "config.toml").write_text(
        f'public_url = "http://127.0.0.1:{port}"\norganisation = "{organisation}"\n'
        f"allow_private_peers = {'true' if private else 'false'}\n{config}"
    )
    extra = ("--workers", str(workers)) if workers > 1 else ()
    server = start_server(data, *extra, port=port) if run else None
    return Org(data=data, host=f"127.0.0.1:{port}", url=f"http://127.0.0.1:{port}", server=server)


def spec_schema(name: str) -> OAS30Validator:
    assert SPEC.is_file(), f"the OCM OpenAPI document is expected at {SPEC}"
    spec = yaml.safe_load(SPEC.read_text())
    schema = {**spec["components"]["schemas"][name], "components": spec["components"]}
    return OAS30Validator(schema)


def token(org: Org, user: str) -> dict[str, str]:
    secret = org.cli("token", "create", user).stdout.strip()
    return {"Authorization": f"Bearer {secret}"}


def eventually(check: Callable[[], Any], seconds: float = 15) -> Any:
    """Poll ``check`` until it returns something true (messages between servers are async)."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def share_and_accept(a: Org, b: Org, collection: str, permission: str) -> dict[str, Any]:
    """alice on A shares ``collection`` with bob on B, who accepts it; B's received share."""
    made = httpx.post(
        f"{a.url}/manage/shares",
        headers=token(a, "alice"),
        json={"collection": collection, "share_with": f"bob@{b.host}", "permission": permission},
    )
    assert made.status_code == 201, made.text
    bob = token(b, "bob")

    def pending() -> Any:
        listing = httpx.get(f"{b.url}/manage/received-shares", headers=bob).json()
        return next(
            (s for s in listing if s["name"] == collection and s["state"] == "pending"), None
        )

    got = eventually(pending)
    assert got is not None, f"B never received the share of {collection!r}"
    accepted = httpx.post(f"{b.url}/manage/received-shares/{got['id']}/accept", headers=bob)
    assert accepted.status_code == 200, accepted.text
    return dict(accepted.json())
