"""The web workspace in a real browser between two real servers: the invite, a write share,
an edit through the mounted layer seen at the sender, and revocation; then bad input in forms,
and axe-core on every page."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.e2e.orgs import Org, token
from tests.web.conftest import Person, person

PICK_FEATURE = """() => {
  // the feature of the layer farthest from its neighbours on screen, and its pixel
  const w = window.ogmWorkspace;
  const features = Object.values(w.sources)[0].getFeatures();
  const pixel = (f) => w.map.getPixelFromCoordinate(f.getGeometry().getCoordinates());
  let best = null, room = -1;
  for (const f of features) {
    const [x, y] = pixel(f);
    const size = w.map.getSize();
    if (x < 100 || y < 100 || x > size[0] - 100 || y > size[1] - 100) continue;
    const near = Math.min(...features.filter(g => g !== f).map(g => {
      const [u, v] = pixel(g); return Math.hypot(u - x, v - y); }));
    if (near > room) { room = near; best = f; }
  }
  const box = w.map.getViewport().getBoundingClientRect();
  const [x, y] = pixel(best);
  return {id: String(best.getId()), x: box.left + x, y: box.top + y};
}"""


def where(person: Person, feature_id: str) -> str:
    cell = person.page.locator(f'tr[data-feature="{feature_id}"] td.where')
    return str(cell.inner_text())


def no_serious_violations(person: Person, page_name: str) -> None:
    found = person.axe()
    assert not found, f"axe-core on {page_name}: {found}"


def wait_until(check: Any, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_invite_share_edit_and_revoke_in_the_browser(
    web_orgs: tuple[Org, Org], alice: Person, bob: Person
) -> None:
    a, b = web_orgs
    # Alice makes an invite
    alice.sign_in()
    alice.go("/web/invites")
    alice.page.click("text=Create an invite")
    assert alice.page.input_value("#invite-string")
    assert alice.page.input_value("#invite-link").startswith(a.url + "/ocm/invite?")
    alice.shot("01-alice-created-an-invite")
    no_serious_violations(alice, "invites")

    # Bob accepts it in his browser, seeing Alice's organisation first
    # (through his server's inviteAcceptDialog, as another OCM server's invite link leads there)
    link = alice.page.input_value("#invite-link")
    invite_token = parse_qs(urlsplit(link).query)["token"][0]
    bob.sign_in()
    bob.go(f"/ocm/accept-invite?{urlencode({'token': invite_token, 'providerDomain': a.host})}")
    assert "Feuerwehr Musterstadt" in bob.page.inner_text("main")
    no_serious_violations(bob, "inviteAcceptDialog")
    bob.page.click("text=Accept it in the web workspace")
    assert bob.page.inner_text("#inviting-organisation") == "Feuerwehr Musterstadt"
    bob.shot("02-bob-sees-who-invites-him")
    no_serious_violations(bob, "accept invite")
    bob.page.click("text=Accept the invite from Feuerwehr Musterstadt")
    assert "are contacts now" in bob.page.inner_text("main")
    assert f"alice@{a.host}" in bob.page.inner_text("main")

    # Alice shares 'vehicles' with Bob, with write access; the dialog names his organisation
    alice.go("/web/layers/vehicles")
    alice.wait_for_map()
    alice.page.click("text=Share…")
    alice.page.fill("#address", f"bob@{b.host}")
    alice.page.check("input[name=permission][value=write]")
    alice.page.click("text=Next: check the recipient")
    assert alice.page.inner_text("#recipient-organisation") == "Leitstelle Nord"
    alice.shot("03-alice-shares-with-the-control-room")
    no_serious_violations(alice, "share dialog")
    alice.page.click("text=Change")
    assert alice.page.input_value("#address") == f"bob@{b.host}"
    assert alice.page.is_checked("input[name=permission][value=write]")
    alice.page.click("text=Next: check the recipient")
    alice.page.click("text=Send share to Leitstelle Nord")
    assert "The share was sent." in alice.page.inner_text("main")
    alice.shot("04-alice-sent-shares")
    no_serious_violations(alice, "sent shares")

    # Bob accepts the share and sees the layer on his map
    bob.go("/web/shares/received")
    card = bob.page.locator("li.card", has_text="Vehicles")
    assert "Read and edit" in card.inner_text()
    bob.shot("05-bob-inbox")
    no_serious_violations(bob, "inbox")
    card.locator("button", has_text="Accept").click()
    bob.page.wait_for_url(re.compile(r".*/web/layers/ocm-\d+\?done=share-accepted$"))
    mount_id = bob.page.url.split("/web/layers/")[1].split("?")[0]
    bob.wait_for_map()
    assert "Shared by Alice Adler (Feuerwehr Musterstadt)" in bob.page.inner_text("main")
    assert bob.page.locator("#features tbody tr").count() == 12

    # Bob moves a feature on the map: it is saved at Alice's server
    bob.page.click("button[data-mode=move]")
    picked = bob.page.evaluate(PICK_FEATURE)
    before = where(bob, picked["id"])
    bob.page.mouse.move(picked["x"], picked["y"])
    bob.page.mouse.down()
    for step in range(1, 11):
        bob.page.mouse.move(picked["x"] + 6 * step, picked["y"] + 4 * step)
    bob.page.mouse.up()
    bob.page.wait_for_function(
        "/^(Moved feature|Feature)/.test(document.getElementById('map-status').textContent)"
    )
    assert bob.page.inner_text("#map-status").startswith("Moved feature"), bob.shot("failed")
    bob.page.wait_for_function(
        f"""document.querySelector('tr[data-feature="{picked["id"]}"] td.where')
              .textContent !== {before!r}"""
    )
    moved = where(bob, picked["id"])
    bob.shot("06-bob-moved-a-vehicle")
    no_serious_violations(bob, "shared layer page")

    # Alice sees the moved feature on her own layer, and who moved it
    alice.go("/web/layers/vehicles")
    alice.wait_for_map()
    assert where(alice, picked["id"]) == moved
    alice.shot("07-alice-sees-the-move")
    no_serious_violations(alice, "layer page")
    alice.go("/web/layers/vehicles/changes")
    assert f"bob@{b.host}" in alice.page.inner_text("main")
    no_serious_violations(alice, "change log")

    see_changes_live(web_orgs, alice, bob, mount_id, picked["id"])
    change_permission(web_orgs, alice, mount_id, picked["id"])

    # Alice revokes; Bob's map no longer shows the layer
    alice.go("/web/shares/sent")
    alice.page.locator("tr", has_text=f"bob@{b.host}").locator("button", has_text="Revoke").click()
    assert "revoked" in alice.page.inner_text("main")
    alice.shot("08-alice-revoked")

    def gone() -> bool:
        bob.go("/web/layers")
        return bob.page.locator(f'li[data-layer="{mount_id}"]').count() == 0

    assert wait_until(gone), "Bob still sees the revoked layer"
    bob.wait_for_map()
    bob.shot("09-bob-layer-gone")
    no_serious_violations(bob, "layers")
    bob.go(f"/web/layers/{mount_id}")
    assert "Not found" in bob.page.inner_text("main")

    decline_in_the_inbox(web_orgs, bob)


def sent_share(org: Org, user: str, share_with: str) -> dict[str, Any]:
    """The one live share ``user`` sent to ``share_with``, through A's management API."""
    shares = httpx.get(f"{org.url}/manage/shares", headers=token(org, user)).json()
    found = [s for s in shares if s["share_with"] == share_with]
    assert len(found) == 1, shares
    share: dict[str, Any] = found[0]
    return share


def received_share(org: Org, user: str, name: str) -> dict[str, Any] | None:
    """The share called ``name`` in ``user``'s inbox, through B's management API."""
    shares = httpx.get(f"{org.url}/manage/received-shares", headers=token(org, user)).json()
    found = [s for s in shares if s["name"] == name]
    return found[0] if found else None


def change_permission(
    web_orgs: tuple[Org, Org], alice: Person, mount_id: str, feature_id: str
) -> None:
    """Alice lowers the share to read only in Sent shares: A keeps it, B's inbox and mount
    follow, and an edit through B's mount is refused; raised again, it works again."""
    a, b = web_orgs
    at_b = token(b, "bob")
    address = f"bob@{b.host}"
    through_b = f"{b.url}/collections/{mount_id}/items/{feature_id}"
    patch_b = {**at_b, "Content-Type": "application/merge-patch+json"}

    def set_access(label: str) -> None:
        alice.go("/web/shares/sent")
        row = alice.page.locator("tr", has_text=address)
        row.locator("select[name=permission]").select_option(label=label)
        row.locator("button", has_text="Change").click()
        assert "The permission was changed" in alice.page.inner_text("main")

    def bob_has(permission: str) -> bool:
        found = received_share(b, "bob", "Vehicles")
        return found is not None and found["permission"] == permission

    set_access("Read only")
    assert sent_share(a, "alice", address)["permission"] == "read"
    assert alice.page.locator("tr", has_text=address).locator("select").input_value() == "read"
    alice.shot("07d-alice-made-the-share-read-only")
    no_serious_violations(alice, "sent shares after a change")
    assert wait_until(lambda: bob_has("read")), "B's inbox still says write"
    edit = {"properties": {"status": "after read only"}}
    refused = httpx.patch(through_b, json=edit, headers=patch_b)
    assert refused.status_code == 403, (refused.status_code, refused.text)
    assert "read-only" in refused.text
    at_a = token(a, "alice")
    stored = httpx.get(f"{a.url}/collections/vehicles/items/{feature_id}", headers=at_a).json()
    assert stored["properties"].get("status") != "after read only"

    set_access("Read and edit")
    assert sent_share(a, "alice", address)["permission"] == "write"
    assert wait_until(lambda: bob_has("write")), "B's inbox still says read"
    again = httpx.patch(through_b, json=edit, headers=patch_b)
    assert again.status_code == 200, (again.status_code, again.text)


def decline_in_the_inbox(web_orgs: tuple[Org, Org], bob: Person) -> None:
    """Alice shares the layer again (through the API); Bob declines it in his inbox, and both
    servers say declined."""
    a, b = web_orgs
    address = f"bob@{b.host}"
    made = httpx.post(
        f"{a.url}/manage/shares",
        json={"collection": "vehicles", "share_with": address, "permission": "read"},
        headers=token(a, "alice"),
    )
    assert made.status_code == 201, made.text
    share_id = made.json()["id"]
    assert wait_until(lambda: received_share(b, "bob", "Vehicles")), "the share did not arrive"
    bob.go("/web/shares/received")
    card = bob.page.locator("li.card.pending", has_text="Vehicles")
    assert "Read only" in card.inner_text()
    card.locator("button", has_text="Decline").click()
    assert "The share was declined." in bob.page.inner_text("main")
    assert "declined" in bob.page.locator("li.card", has_text="Vehicles").inner_text()
    bob.shot("09b-bob-declined-a-share")
    no_serious_violations(bob, "inbox after declining")
    received = received_share(b, "bob", "Vehicles")
    assert received is not None and received["state"] == "declined"

    def declined_at_a() -> bool:
        url = f"{a.url}/manage/shares/{share_id}"
        return bool(httpx.get(url, headers=token(a, "alice")).json()["state"] == "declined")

    assert wait_until(declined_at_a), "A does not know the share was declined"


LIVE = '[data-live="{}"][data-state=live]'


def feature_on_map(layer_id: str, feature_id: str) -> str:
    """A script: the feature's properties on the page's map as JSON, or null."""
    return f"""(() => {{
      const f = window.ogmWorkspace.sources[{layer_id!r}].getFeatureById({feature_id!r});
      return f ? JSON.stringify(Object.fromEntries(Object.entries(f.getProperties())
        .filter(([k]) => k !== 'geometry'))) : null; }})()"""


def x_on_map(layer_id: str, feature_id: str) -> str:
    """A script: the feature's longitude on the page's map (from spherical Mercator)."""
    return f"""(() => {{
      const f = window.ogmWorkspace.sources[{layer_id!r}].getFeatureById({feature_id!r});
      return f ? f.getGeometry().getCoordinates()[0] / 20037508.342789244 * 180 : null; }})()"""


def see_changes_live(
    web_orgs: tuple[Org, Org], alice: Person, bob: Person, mount_id: str, feature_id: str
) -> None:
    """Edits made elsewhere appear on open maps by themselves: on Bob's map of the mounted layer
    (an edit on A through its API) and on Alice's layer page (an edit through B's mount, a new
    feature and its deletion through A's API)."""
    a, b = web_orgs
    at_a, at_b = token(a, "alice"), token(b, "bob")
    bob.go("/web/layers")
    bob.wait_for_map()
    bob.page.wait_for_selector(LIVE.format(mount_id))
    alice.go("/web/layers/vehicles")
    alice.wait_for_map()
    alice.page.wait_for_selector(LIVE.format("vehicles"))
    assert bob.page.is_visible(f'canvas[data-preview="{mount_id}"]')

    edit = {
        "geometry": {"type": "Point", "coordinates": [9.87654, 51.5]},
        "properties": {"status": "live from A"},
    }
    url = f"{a.url}/collections/vehicles/items/{feature_id}"
    patch = {**at_a, "Content-Type": "application/merge-patch+json"}
    assert httpx.patch(url, json=edit, headers=patch).status_code == 200
    bob.page.wait_for_function(
        f"({feature_on_map(mount_id, feature_id)} || '').includes('live from A')"
    )
    assert abs(bob.page.evaluate(x_on_map(mount_id, feature_id)) - 9.87654) < 1e-6
    bob.shot("07b-bob-sees-an-edit-live")

    # on Alice's own layer page: an edit through Bob's server, a new feature, its deletion
    through_b = f"{b.url}/collections/{mount_id}/items/{feature_id}"
    edit_b = {"properties": {"status": "changed through B"}}
    patch_b = {**at_b, "Content-Type": "application/merge-patch+json"}
    assert httpx.patch(through_b, json=edit_b, headers=patch_b).status_code == 200
    row = f'tr[data-feature="{feature_id}"]'
    alice.page.wait_for_selector(f"{row} >> text=changed through B")
    made = httpx.post(
        f"{a.url}/collections/vehicles/items",
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [9.9, 51.51]},
            "properties": {"callsign": "Florian live"},
        },
        headers=at_a,
    )
    assert made.status_code == 201
    new_id = made.json()["id"]
    alice.page.wait_for_selector(f'tr[data-feature="{new_id}"] >> text=Florian live')
    bob.page.wait_for_function(f"{feature_on_map(mount_id, new_id)} !== null")
    alice.shot("07c-alice-sees-edits-made-elsewhere")
    no_serious_violations(alice, "layer page with live updates")
    no_serious_violations(bob, "layers with previews")
    gone = httpx.delete(f"{a.url}/collections/vehicles/items/{new_id}", headers=at_a)
    assert gone.status_code == 204
    alice.page.wait_for_selector(f'tr[data-feature="{new_id}"]', state="detached")
    bob.page.wait_for_function(f"{feature_on_map(mount_id, new_id)} === null")
    # one stream each all along: neither broke nor was ended by the server
    assert alice.page.evaluate("window.ogmWorkspace.feeds[0].opened") == 1
    assert bob.page.evaluate("window.ogmWorkspace.feeds[0].opened") == 1
    assert alice.page.get_attribute("#refresh", "id") == "refresh"  # the fallback stays


def test_bad_input_shows_a_clear_message_and_changes_nothing(
    web_orgs: tuple[Org, Org], alice: Person, bob: Person
) -> None:
    a, b = web_orgs
    alice.sign_in()
    headers = token(a, "alice")
    shares_before = httpx.get(f"{a.url}/manage/shares", headers=headers).json()

    def share(address: str) -> str:
        alice.go("/web/layers/vehicles/share")
        alice.page.fill("#address", address)
        alice.page.click("text=Next: check the recipient")
        if alice.page.locator("text=Send share to").count():
            alice.page.locator("button", has_text="Send share to").click()
        return str(alice.page.locator("[role=alert]").inner_text())

    said = share("no address at all")
    assert "is not an OCM address" in said and "Nothing was changed" in said
    said = share(f"nobody@{b.host}")  # a server we know, a user it does not have
    assert "refused the share: No user 'nobody' here." in said, said
    alice.shot("10-share-refused")

    # an unreachable server the operator trusts: discovery fails, in plain words
    closed = f"127.0.0.1:{_closed_port()}"
    alice.go("/web/operator/peers")
    no_serious_violations(alice, "servers")
    alice.page.fill("#new-host", closed)
    alice.page.click("form.panel button[type=submit]")
    assert closed in alice.page.inner_text("main")
    said = share(f"carl@{closed}")
    assert "cannot be reached" in said, said
    alice.shot("11-server-unreachable")
    said = share("dora@untrusted.example")
    assert "does not deal with that server" in said, said
    assert httpx.get(f"{a.url}/manage/shares", headers=headers).json() == shares_before

    # a bad invite string
    bob.sign_in()
    bob.go("/web/invites/accept?invite=not-an-invite")
    assert "cannot be accepted" in bob.page.inner_text("[role=alert]")

    # an invalid geometry typed into the attribute form
    first = httpx.get(f"{a.url}/collections/vehicles/items?limit=1", headers=headers).json()
    fid = first["features"][0]["id"]
    original = httpx.get(f"{a.url}/collections/vehicles/items/{fid}", headers=headers).json()
    alice.go("/web/layers/vehicles")
    alice.wait_for_map()
    alice.page.click(f'button[aria-label="Edit feature {fid}"]')
    no_serious_violations(alice, "attribute form")
    alice.page.fill(
        "#feature-geometry", '{"type": "Polygon", "coordinates": [[[9, 51], [9.1, 51]]]}'
    )
    alice.page.click("#feature-form button[type=submit]")
    alice.page.wait_for_function(
        f"document.getElementById('map-status').textContent"
        f".startsWith('Feature {fid} was not changed')"
    )
    assert alice.page.get_attribute("#map-status", "role") == "alert"
    alice.shot("12-invalid-geometry")
    after = httpx.get(f"{a.url}/collections/vehicles/items/{fid}", headers=headers).json()
    assert after == original

    # a wrong token at sign-in
    alice.page.context.clear_cookies()
    alice.go("/web/sign-in")
    alice.page.fill("#token", "ogm_wrong")
    alice.page.click("form button[type=submit]")
    assert "not valid" in alice.page.inner_text("[role=alert]")
    no_serious_violations(alice, "sign-in")


def test_sharing_rules_of_a_layer(web_orgs: tuple[Org, Org], alice: Person) -> None:
    a, _ = web_orgs
    headers = token(a, "alice")
    rules_url = f"{a.url}/manage/collections/vehicles/sharing-rules"
    alice.sign_in()
    alice.go("/web/layers/vehicles/rules")
    assert "Sharing rules of “Vehicles”" in alice.page.inner_text("h1")
    assert "No rules." in alice.page.inner_text("main")
    no_serious_violations(alice, "sharing rules")
    alice.page.fill("#domain", "*.example.org")
    alice.page.select_option("#rule-permission", "read")
    alice.page.click("text=Save rule")
    assert "The sharing rules were changed." in alice.page.inner_text("main")
    row = alice.page.locator("tr", has_text="*.example.org")
    assert "read" in row.inner_text()
    assert httpx.get(rules_url, headers=headers).json() == [
        {"domain": "*.example.org", "permission": "read"}
    ]
    alice.shot("18-alice-set-a-sharing-rule")
    no_serious_violations(alice, "sharing rules with a rule")
    row.locator("button", has_text="Remove").click()
    assert "The sharing rules were changed." in alice.page.inner_text("main")
    assert "No rules." in alice.page.inner_text("main")
    assert httpx.get(rules_url, headers=headers).json() == []


def _closed_port() -> int:
    from tests.conftest import free_port

    return free_port()


def test_drawing_a_point_giving_it_attributes_and_deleting_it(
    web_orgs: tuple[Org, Org], alice: Person
) -> None:
    a, _ = web_orgs
    headers = token(a, "alice")
    alice.sign_in()
    alice.page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, upright
    alice.go("/web/layers/vehicles")
    alice.wait_for_map()
    no_serious_violations(alice, "layer page at tablet width")
    alice.page.click("button[data-mode=Point]")
    box = alice.page.locator("#map").bounding_box()
    alice.page.mouse.click(box["x"] + 60, box["y"] + box["height"] - 60)
    alice.page.wait_for_function(
        "/^(Added feature|The feature)/.test(document.getElementById('map-status').textContent)"
    )
    status = alice.page.inner_text("#map-status")
    assert status.startswith("Added feature"), status
    fid = status.split()[2].rstrip(";")
    assert alice.page.is_visible("#feature-form")
    alice.page.fill('#feature-fields input[name="key"] >> nth=-1', "callsign")
    alice.page.fill('#feature-fields input[name="value"] >> nth=-1', "Florian 1/10")
    alice.page.click("#feature-form button[type=submit]")
    alice.page.wait_for_function(
        "document.getElementById('map-status').textContent.startsWith('Saved feature')"
    )
    stored = httpx.get(f"{a.url}/collections/vehicles/items/{fid}", headers=headers).json()
    assert stored["geometry"]["type"] == "Point"
    assert stored["properties"] == {"callsign": "Florian 1/10"}
    alice.shot("13-alice-added-a-point")
    alice.page.click(f'button[aria-label="Edit feature {fid}"]')
    alice.page.click("#feature-delete")
    alice.page.wait_for_function(
        "document.getElementById('map-status').textContent.startsWith('Deleted feature')"
    )
    gone = httpx.get(f"{a.url}/collections/vehicles/items/{fid}", headers=headers)
    assert gone.status_code == 404
    assert alice.page.locator(f'tr[data-feature="{fid}"]').count() == 0
    alice.page.set_viewport_size({"width": 1280, "height": 800})


def status_starts(person: Person, *prefixes: str) -> str:
    """The map's message once it starts with one of ``prefixes``."""
    pattern = "|".join(prefixes)
    person.page.wait_for_function(
        f"/^({pattern})/.test(document.getElementById('map-status').textContent)"
    )
    return str(person.page.inner_text("#map-status"))


def test_previews_on_my_layers(web_orgs: tuple[Org, Org], alice: Person) -> None:
    alice.sign_in()
    alice.wait_for_map()
    preview = alice.page.locator('canvas[data-preview="vehicles"]')
    assert preview.get_attribute("role") == "img"
    count = alice.page.evaluate("window.ogmWorkspace.sources.vehicles.getFeatures().length")
    assert preview.get_attribute("aria-label") == f"Vehicles: preview of {count} features"
    drawn = alice.page.evaluate(
        """() => { const c = document.querySelector('canvas[data-preview="vehicles"]');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let coloured = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i + 1] < 80) coloured++;
          return coloured; }"""
    )
    assert drawn > 20, "the preview shows no features"
    alice.shot("14-my-layers-with-previews")
    no_serious_violations(alice, "layers with previews")


def test_drawing_a_line_and_an_area_and_reshaping_it(
    web_orgs: tuple[Org, Org], alice: Person
) -> None:
    a, _ = web_orgs
    headers = token(a, "alice")
    alice.sign_in()
    alice.page.set_viewport_size({"width": 1280, "height": 800})
    alice.go("/web/layers/vehicles")
    alice.wait_for_map()
    box = alice.page.locator("#map").bounding_box()
    left, top = box["x"] + 40, box["y"]  # clear of the zoom buttons and the scale bar
    bottom = min(box["y"] + box["height"], 800) - 40

    def click(x: float, y: float) -> None:
        alice.page.mouse.move(x, y, steps=4)  # a hand moves over the map before it clicks
        alice.page.mouse.click(x, y)
        alice.page.wait_for_timeout(350)  # not a double-click

    def added() -> dict[str, Any]:
        status = status_starts(alice, "Added feature", "The feature")
        assert status.startswith("Added feature"), status
        fid = status.split()[2].rstrip(";")
        alice.page.click("#feature-cancel")  # the map keeps its width
        found: dict[str, Any] = httpx.get(
            f"{a.url}/collections/vehicles/items/{fid}", headers=headers
        ).json()
        return found

    alice.page.click("button[data-mode=LineString]")
    line_at = [(left + 60, bottom - 60), (left + 160, bottom - 110), (left + 260, bottom - 70)]
    for x, y in line_at:
        click(x, y)
    click(*line_at[-1])  # the last corner again finishes the line
    line = added()
    assert line["geometry"]["type"] == "LineString"
    assert len(line["geometry"]["coordinates"]) == 3

    alice.page.click("button[data-mode=Polygon]")
    area_at = [(left + 60, top + 60), (left + 200, top + 60), (left + 200, top + 160)]
    for x, y in [*area_at, (left + 60, top + 160)]:
        click(x, y)
    click(*area_at[0])  # the first corner again closes the area
    area = added()
    assert area["geometry"]["type"] == "Polygon"
    ring = area["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    alice.shot("15-alice-drew-a-line-and-an-area")

    # Reshape: drag the area's third corner down and to the right
    alice.page.click("button[data-mode=reshape]")
    x, y = area_at[2]
    alice.page.mouse.move(x, y)
    alice.page.mouse.down()
    for step in range(1, 11):
        alice.page.mouse.move(x + 8 * step, y + 6 * step)
    alice.page.mouse.up()
    status = status_starts(alice, "Reshaped feature", "Feature")
    assert status == f"Reshaped feature {area['id']}; saved.", status
    after = httpx.get(f"{a.url}/collections/vehicles/items/{area['id']}", headers=headers).json()
    new_ring = after["geometry"]["coordinates"][0]
    assert len(new_ring) == 5
    changed = [i for i in range(4) if new_ring[i] != ring[i]]
    assert changed == [2], (ring, new_ring)
    assert new_ring[2][0] > ring[2][0] and new_ring[2][1] < ring[2][1]  # east and south
    alice.shot("16-alice-reshaped-the-area")
    for made in (line, area):
        httpx.delete(f"{a.url}/collections/vehicles/items/{made['id']}", headers=headers)


def test_an_edit_of_a_feature_changed_meanwhile_is_refused_and_reloaded(
    web_orgs: tuple[Org, Org], alice: Person
) -> None:
    a, _ = web_orgs
    headers = token(a, "alice")
    alice.sign_in()
    alice.go("/web/layers/vehicles")
    alice.wait_for_map()
    first = httpx.get(f"{a.url}/collections/vehicles/items?limit=1", headers=headers).json()
    fid = first["features"][0]["id"]
    alice.page.click(f'button[aria-label="Edit feature {fid}"]')
    etag = alice.page.evaluate("async () => await window.ogmWorkspace.formTag")
    assert etag and etag.startswith('"')
    # someone else changes the feature while Alice's form is open
    other = {"properties": {"status": "changed by the control room"}}
    patch = {**headers, "Content-Type": "application/merge-patch+json"}
    url = f"{a.url}/collections/vehicles/items/{fid}"
    assert httpx.patch(url, json=other, headers=patch).status_code == 200
    alice.page.fill('#feature-fields input[name="key"] >> nth=-1', "note")
    alice.page.fill('#feature-fields input[name="value"] >> nth=-1', "Alice's note")
    alice.page.click("#feature-form button[type=submit]")
    status = status_starts(alice, f"Feature {fid} was changed meanwhile", "Saved feature")
    assert "changed meanwhile by someone else; it has been reloaded" in status, status
    assert alice.page.get_attribute("#map-status", "role") == "alert"
    stored = httpx.get(url, headers=headers).json()
    assert stored["properties"]["status"] == "changed by the control room"
    assert "note" not in stored["properties"]
    # the form shows the feature as it is now, and saving again works
    values = alice.page.eval_on_selector_all(
        '#feature-fields input[name="value"]', "inputs => inputs.map(i => i.value)"
    )
    assert "changed by the control room" in values
    alice.shot("17-changed-meanwhile")
    no_serious_violations(alice, "conflict message")
    alice.page.fill('#feature-fields input[name="key"] >> nth=-1', "note")
    alice.page.fill('#feature-fields input[name="value"] >> nth=-1', "Alice's note")
    alice.page.click("#feature-form button[type=submit]")
    status_starts(alice, "Saved feature")
    stored = httpx.get(url, headers=headers).json()
    assert stored["properties"]["note"] == "Alice's note"
    assert stored["properties"]["status"] == "changed by the control room"


def test_the_pages_work_under_their_content_security_policy(
    chromium: Any, web_orgs: tuple[Org, Org]
) -> None:
    """The other tests bypass the CSP to inject axe-core; here it is enforced: the map loads
    and draws its layers, and the browser reports no violation."""
    refused: list[str] = []
    for carol in person(chromium, "alice", web_orgs[0], "Alice (CSP enforced)", enforce_csp=True):
        carol.page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        carol.sign_in()
        carol.wait_for_map()
        count = carol.page.evaluate("window.ogmWorkspace.sources.vehicles.getFeatures().length")
        assert count > 0
        carol.go("/web/layers/vehicles")
        carol.wait_for_map()
        assert carol.page.locator("table tbody tr").count() > 0
    assert refused == []
