"""The CLI's user gestures sent to running servers through the client library (``--server`` and
``--token``, or OGM_SERVER and OGM_TOKEN): the invite and share flow, answered as the direct
mode answers, and refusals named."""

import os
import subprocess

import orjson
import pytest

from opengeomesh import samples
from opengeomesh.client import Client
from tests.conftest import BIN
from tests.e2e.client_orgs import ClientOrgs, client_orgs
from tests.e2e.orgs import eventually

__all__ = ["client_orgs"]


def ogm(*args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    """The real ``opengeomesh`` command, without a data directory; ``env``: OGM_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OGM_")}
    done = subprocess.run(
        [str(BIN / "opengeomesh"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.mark.e2e
def test_gestures_through_running_servers(client_orgs: ClientOrgs) -> None:
    a, b = client_orgs.a, client_orgs.b
    erin = {"OGM_SERVER": a.url, "OGM_TOKEN": client_orgs.erin}  # from the environment
    frank = ("--server", b.url, "--token", client_orgs.frank)  # as options

    invite = ogm("invite", "create", **erin).stdout.strip()
    met = ogm("invite", "accept", invite, *frank).stdout
    assert f"frank and Erin <erin@{a.host}> of Feuerwehr Musterstadt are now contacts" in met
    assert f"frank@{b.host}" in ogm("contact", "list", **erin).stdout

    layer = a.data.parent / "roads.ndjson"
    layer.write_bytes(b"\n".join(orjson.dumps(f) for f in samples.hydrants(30)["features"]))
    made = ogm("collection", "import", "roads", str(layer), "--create", "--title", "Roads", **erin)
    assert "imported 30 features into roads" in made.stdout
    listed = ogm("collection", "list", **erin).stdout
    assert "roads" in listed and "erin" in listed and "30" in listed

    shared = ogm("share", "create", "roads", f"frank@{b.host}", "--permission", "write", **erin)
    assert f"roads → frank@{b.host} (Frank), write, pending" in shared.stdout
    received = orjson.loads(ogm("share", "list", "--received", "--json", *frank).stdout)
    direct = b.cli("share", "list", "--received", "--user", "frank", "--json").stdout
    assert received == orjson.loads(direct)  # the same answer as on the data directory
    [offered] = received
    accepted = ogm("share", "accept", str(offered["id"]), *frank).stdout
    assert f"accepted: Roads from erin@{a.host}, now collection {offered['collection']}" in accepted

    [sent] = orjson.loads(ogm("share", "list", "--json", **erin).stdout)
    with Client(a.url, client_orgs.erin) as watching:  # waits watched with the library: faster
        assert eventually(lambda: watching.get_share(sent["id"]).state == "accepted")
    assert (
        f"share {sent['id']} is now read"
        in ogm("share", "update", str(sent["id"]), "--permission", "read", **erin).stdout
    )
    revoked = ogm("share", "revoke", str(sent["id"]), **erin).stdout
    assert f"share {sent['id']} of roads with frank@{b.host} is revoked" in revoked
    with Client(b.url, client_orgs.frank) as watching:
        assert eventually(lambda: watching.list_received_shares() == [])


@pytest.mark.e2e
def test_refusals_are_named(client_orgs: ClientOrgs) -> None:
    a = client_orgs.a
    erin = ("--server", a.url, "--token", client_orgs.erin)
    missing = ogm("share", "accept", "4242", *erin, check=False)
    assert missing.returncode == 2 and "error: " in missing.stderr and "4242" in missing.stderr
    bad = ogm("collection", "create", "Not An Id", *erin, check=False)
    assert bad.returncode == 2 and "error: id:" in bad.stderr
    wrong_user = ogm("invite", "list", "--user", "frank", *erin, check=False)
    assert wrong_user.returncode == 2 and "the token is erin's, not frank's" in wrong_user.stderr
    no_token = ogm("invite", "list", "--server", a.url, check=False)
    assert no_token.returncode == 2 and "OGM_TOKEN" in no_token.stderr
    both = ogm("invite", "list", *erin, "--data", str(a.data), check=False)
    assert both.returncode == 2 and "not both" in both.stderr
    down = ogm("invite", "list", "--server", "http://127.0.0.1:9", "--token", "t", check=False)
    assert down.returncode == 2 and "/manage/invites" in down.stderr
    no_user = ogm("invite", "list", "--data", str(a.data), check=False)
    assert no_user.returncode == 2 and "--user is needed" in no_user.stderr
