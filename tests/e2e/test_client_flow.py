"""The client library drives DESIGN.md's two flows between two real servers: invite and
accept, then share, accept, read through the mount page by page, change the permission,
revoke. The async client does the same gestures for a decline."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from opengeomesh import samples
from opengeomesh.client import AsyncClient, Client, InvalidInput, NotFound, ReceivedShare
from tests.e2e.client_orgs import ClientOrgs, client_orgs
from tests.e2e.orgs import eventually

__all__ = ["client_orgs"]


@pytest.mark.e2e
def test_the_share_flow_through_the_client(client_orgs: ClientOrgs) -> None:
    a, b = client_orgs.a, client_orgs.b
    with Client(a.url, client_orgs.erin) as erin, Client(b.url, client_orgs.frank) as frank:
        # invite: erin invites frank; frank accepts on B; both servers record each other
        invite = erin.create_invite()
        accepted = frank.accept_invite(invite.invite)
        assert accepted.organisation == "Feuerwehr Musterstadt"
        assert accepted.contact.address == f"erin@{a.host}" and accepted.contact.name == "Erin"
        assert [c.address for c in erin.list_contacts()] == [f"frank@{b.host}"]
        assert erin.list_invites()[0].accepted_by == f"frank@{b.host}"

        # share: erin's layer, 137 hydrants, with frank, read and write
        erin.create_collection("hydrants", title="Hydrants", description="Of Musterstadt")
        erin.import_features("hydrants", orjson.dumps(samples.hydrants(137)))
        share = erin.create_share("hydrants", f"frank@{b.host}", permission="write")
        assert share.state == "pending" and share.recipient_name == "Frank"

        pending = frank.list_received_shares()
        assert [(s.name, s.state, s.permission) for s in pending] == [
            ("Hydrants", "pending", "write")
        ]
        with pytest.raises(NotFound):  # nothing mounted before acceptance
            frank.features_page(pending[0].collection)
        mounted = frank.accept_share(pending[0].id)
        assert mounted.state == "accepted"
        assert mounted.mount_url == f"{b.url}/collections/{mounted.collection}"
        assert eventually(lambda: erin.get_share(share.id).state == "accepted")

        # reading through B's mount, page after page, gives erin's features exactly
        original = list(erin.iter_features("hydrants", limit=1000))
        pages = list(frank.iter_pages(mounted.collection, limit=25))
        assert [len(p.features) for p in pages] == [25] * 5 + [12]
        assert [f for p in pages for f in p.features] == original
        described = frank.describe_collection(mounted.collection)
        assert described["numberOfFeatures"] == 137 and described["access"] == "write"

        # direct access to A for the share
        direct = frank.access_share(mounted.id)
        assert direct.collection_url == f"{a.url}/collections/hydrants"
        with Client(a.url, direct.access_token) as holder:
            assert holder.features_page("hydrants", limit=3).number_matched == 137

        # erin lowers the permission: at once on A, and B is told
        assert erin.update_share(share.id, "read").permission == "read"
        assert eventually(lambda: frank.get_received_share(mounted.id).permission == "read")
        with pytest.raises(InvalidInput) as bad:
            erin.update_share(share.id, "own")
        assert bad.value.parameter == "permission"

        # erin revokes: the mount is gone, and so is the share at B
        erin.revoke_share(share.id)
        with pytest.raises(NotFound):
            erin.get_share(share.id)
        with pytest.raises(NotFound):
            frank.features_page(mounted.collection)
        assert eventually(lambda: frank.list_received_shares() == [])
        assert mounted.collection not in [c.id for c in frank.list_collections()]


@pytest.mark.e2e
def test_the_async_client_declines(client_orgs: ClientOrgs) -> None:
    a, b = client_orgs.a, client_orgs.b

    async def flow() -> None:
        async with (
            AsyncClient(a.url, client_orgs.erin) as erin,
            AsyncClient(b.url, client_orgs.frank) as frank,
        ):
            if not await erin.list_contacts():  # run alone: meet first
                await frank.accept_invite((await erin.create_invite()).invite)
            await erin.create_collection("closures", title="Road closures")
            share = await erin.create_share("closures", f"frank@{b.host}")
            offered = [s for s in await frank.list_received_shares() if s.name == "Road closures"]
            assert len(offered) == 1 and offered[0].sender == f"erin@{a.host}"
            declined = await frank.decline_share(offered[0].id)
            assert declined.state == "declined" and declined.mount_url is None

            async def told() -> bool:
                return (await erin.get_share(share.id)).state == "declined"

            for _ in range(150):
                if await told():
                    break
                await asyncio.sleep(0.1)
            assert await told()
            with pytest.raises(InvalidInput):  # decided already
                await frank.accept_share(offered[0].id)

    asyncio.run(flow())


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mount_shared_layers.py"


class Example:
    """docs/integration.md's worked example, running as a vendor would run it, receiving
    webhooks on a free loopback port; ``lines`` is what it printed so far."""

    def __init__(self, b_url: str, token: str, out: Path, *accept_from: str) -> None:
        trusted = [option for host in accept_from for option in ("--accept-from", host)]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-u",
                str(EXAMPLE),
                "--listen",
                "127.0.0.1:0",
                "--out",
                str(out),
                *trusted,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "OGM_SERVER": b_url, "OGM_TOKEN": token},
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        started = eventually(lambda: self._started(), seconds=30)
        assert started, self.lines
        self.url, self.hook = started

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _started(self) -> tuple[str, int] | None:
        assert self.process.poll() is None, self.lines
        for line in self.lines:
            if found := re.fullmatch(r"listening at (\S+): webhook (\d+)", line):
                return found[1], int(found[2])
        return None

    def saw(self, *expected: str) -> bool:
        """Whether it printed ``expected``, in this order (other lines between)."""
        printed = iter(list(self.lines))
        return all(any(line == wanted for line in printed) for wanted in expected)

    def stop(self) -> list[str]:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.lines
        return self.lines


def offered(frank: Client, name: str) -> list[ReceivedShare]:
    return [s for s in frank.list_received_shares() if s.name == name]


@pytest.mark.e2e
def test_the_worked_example_mounts_what_webhooks_announce(
    client_orgs: ClientOrgs, tmp_path: Path
) -> None:
    a, b = client_orgs.a, client_orgs.b
    out = tmp_path / "layers"
    sectors = samples.incident_sectors()
    with Client(a.url, client_orgs.erin) as erin, Client(b.url, client_orgs.frank) as frank:
        if not erin.list_contacts():  # run alone: meet first
            frank.accept_invite(erin.create_invite().invite)
        erin.create_collection("sectors", title="Incident sectors")
        erin.import_features("sectors", orjson.dumps(sectors))
        erin.create_collection("staging", title="Staging areas")
        erin.import_features("staging", orjson.dumps(samples.hydrants(30)))

        # a server the product does not trust: told of the share, it leaves it pending
        untrusting = Example(b.url, client_orgs.frank, out, "maps.elsewhere.example")
        assert [w.url for w in frank.list_webhooks()] == [untrusting.url]
        erin.create_share("staging", f"frank@{b.host}")
        left = f"left Staging areas from erin@{a.host} pending: not a trusted server"
        assert eventually(lambda: untrusting.saw(f"share.received: {left}")), untrusting.lines
        # a forged delivery is refused
        forged = httpx.post(untrusting.url, content=b"{}", headers={"webhook-id": "msg_x"})
        assert forged.status_code == 401
        assert untrusting.stop()[-1] == f"removed webhook {untrusting.hook}"
        assert frank.list_webhooks() == [] and [
            s.state for s in offered(frank, "Staging areas")
        ] == ["pending"]

        # trusted: it catches up with the pending share, then is told of the next one
        example = Example(b.url, client_orgs.frank, out, a.host)
        [staging] = offered(frank, "Staging areas")
        assert eventually(
            lambda: example.saw(
                f"catch-up: accepted Staging areas from erin@{a.host}",
                f"catch-up: mounted Staging areas as {staging.collection} (30 features)",
            )
        ), example.lines
        share = erin.create_share("sectors", f"frank@{b.host}", permission="write")
        assert eventually(
            lambda: [s.state for s in offered(frank, "Incident sectors")] == ["accepted"]
        )
        [mounted] = offered(frank, "Incident sectors")
        count, mount = len(sectors["features"]), mounted.collection
        assert eventually(
            lambda: example.saw(
                f"share.received: accepted Incident sectors from erin@{a.host}",
                f"share.received: mounted Incident sectors as {mount} ({count} features)",
            )
        ), example.lines
        delivered = frank.list_webhook_deliveries(example.hook)
        assert {(d.event_type, d.status) for d in delivered} >= {("share.received", "delivered")}
        listing = json.loads((out / "layers.json").read_text())
        assert listing[mounted.collection]["url"] == mounted.mount_url
        copied = json.loads((out / f"{mounted.collection}.geojson").read_text())["features"]
        assert copied == list(erin.iter_features("sectors"))

        # the sender lowers the permission, then revokes: the layer leaves the list
        assert listing[mount]["permission"] == "write"
        erin.update_share(share.id, "read")
        lowered = "share.permission_changed: Incident sectors is now read"
        assert eventually(lambda: example.saw(lowered)), example.lines
        assert json.loads((out / "layers.json").read_text())[mount]["permission"] == "read"
        erin.revoke_share(share.id)
        gone = "share.revoked: removed Incident sectors: the share was revoked"
        assert eventually(lambda: example.saw(gone)), example.lines
        assert mounted.collection not in json.loads((out / "layers.json").read_text())
        assert not (out / f"{mounted.collection}.geojson").exists()
        assert staging.collection in json.loads((out / "layers.json").read_text())
        time.sleep(0.5)  # nothing more comes
        assert example.stop() == [  # each thing done once, nothing undone by mistake
            f"listening at {example.url}: webhook {example.hook}",
            f"catch-up: accepted Staging areas from erin@{a.host}",
            f"catch-up: mounted Staging areas as {staging.collection} (30 features)",
            f"share.received: accepted Incident sectors from erin@{a.host}",
            f"share.received: mounted Incident sectors as {mount} ({count} features)",
            lowered,
            gone,
            f"removed webhook {example.hook}",
        ]
        assert frank.list_webhooks() == []
