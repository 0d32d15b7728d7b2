"""The client against the real app: typed answers, paging, and every error typed with the
server's reason."""

import asyncio
import io
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel

from opengeomesh.api import manage, manage_federation, manage_shares
from opengeomesh.app import create_app
from opengeomesh.client import (
    ApiError,
    AsyncClient,
    Busy,
    Client,
    ClientError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PeerTimeout,
    RateLimited,
    ServerUnreachable,
    Unauthorized,
    models,
)
from tests.client.conftest import BASE
from tests.conftest import World, free_port

Connect = Callable[[str | None], Client]


def test_collections_grants_and_changes(world: World, connect: Connect) -> None:
    alice = connect(world.tokens["alice"])
    assert alice.me().name == "alice"
    made = alice.create_collection("closures", title="Road closures", temporal_property="since")
    assert isinstance(made, models.Collection) and made.access == "manage"
    assert made.temporal_property == "since" and made.features == 0
    feature = {
        "type": "Feature",
        "id": "c1",
        "geometry": {"type": "Point", "coordinates": [9.9, 51.5]},
        "properties": {"since": "2026-11-28T06:00:00Z"},
    }
    body = orjson.dumps({"type": "FeatureCollection", "features": [feature]})
    assert alice.import_features("closures", io.BytesIO(body)).imported == 1
    assert (
        alice.import_features(
            "closures",
            b'{"type":"Feature","id":"c2","geometry":null,"properties":{}}\n',
            "application/x-ndjson",
        ).imported
        == 1
    )
    assert alice.get_collection("closures").features == 2
    exported = orjson.loads(alice.export_features("closures"))
    assert sorted(f["id"] for f in exported["features"]) == ["c1", "c2"]
    assert [c.feature_id for c in alice.list_changes("closures")] == []  # imports are no edits
    changed = alice.update_collection("closures", public=True)
    assert changed.public and changed.title == "Road closures"
    assert alice.grant("closures", "user:bob", "write") == [
        models.Grant(subject="user:bob", permission="write")
    ]
    bob = connect(world.tokens["bob"])
    assert {c.id: c.access for c in bob.list_collections()}["closures"] == "write"
    alice.ungrant("closures", "user:bob")
    assert alice.list_grants("closures") == []
    alice.delete_collection("closures")
    with pytest.raises(NotFound) as gone:
        alice.get_collection("closures")
    assert gone.value.status == 404 and "closures" in gone.value.detail


def test_errors_carry_the_servers_reason(world: World, connect: Connect) -> None:
    alice, carol = connect(world.tokens["alice"]), connect(world.tokens["carol"])
    with pytest.raises(InvalidInput) as bad:
        alice.create_collection("Not An Id")
    assert bad.value.parameter == "id" and bad.value.status == 400
    assert bad.value.title == "Bad request" and "id" in bad.value.detail
    with pytest.raises(InvalidInput) as bad_share:
        alice.create_share("hydrants", "nobody-at-all")
    assert bad_share.value.parameter == "share_with"
    with pytest.raises(Conflict) as taken:
        alice.create_collection("hydrants")
    assert "hydrants" in taken.value.detail
    with pytest.raises(Forbidden):
        carol.list_peers()
    with pytest.raises(NotFound):
        carol.get_collection("hydrants")  # not carol's to know about
    with pytest.raises(Unauthorized) as nobody:
        connect("not-a-token").list_collections()
    assert isinstance(nobody.value, ApiError) and nobody.value.detail
    with pytest.raises(NotFound):
        alice.get_share(424242)


def test_paging_follows_next_links(world: World, connect: Connect) -> None:
    bob = connect(world.tokens["bob"])
    pages = list(bob.iter_pages("hydrants", limit=40))
    assert [len(p.features) for p in pages] == [40] * 6 + [10]
    assert pages[0].number_matched == 250 and pages[-1].next is None
    ids = [f["id"] for f in bob.iter_features("hydrants", limit=40)]
    assert len(ids) == len(set(ids)) == 250
    inside = list(bob.iter_features("hydrants", bbox=(9.90, 51.50, 9.94, 51.54), limit=7))
    all_of_them = list(bob.iter_features("hydrants", limit=1000))
    assert 0 < len(inside) < 250
    assert all(f in all_of_them for f in inside)
    assert bob.get_feature("hydrants", ids[3])["id"] == ids[3]
    with pytest.raises(InvalidInput) as bad:
        bob.features_page("hydrants", filter="name = ")
    assert bad.value.parameter == "filter"
    timed = list(bob.iter_features("sectors", datetime="2026-11-28T06:34:00Z", limit=2))
    assert 0 < len(timed) < len(list(bob.iter_features("sectors")))
    near = bob.features_page(
        "hydrants",
        filter="S_INTERSECTS(geometry, BBOX(9.9,51.5,9.94,51.54))",
        filter_lang="cql2-text",
        limit=1000,
    )
    assert [f["id"] for f in near.features] == [f["id"] for f in inside]
    with pytest.raises(TypeError, match="limt"):
        bob.features_page("hydrants", limt=5)  # type: ignore[call-arg]


def answering(status: int, body: dict[str, Any], **headers: str) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda _: httpx.Response(
            status, json=body, headers={"content-type": "application/problem+json", **headers}
        )
    )


def test_waits_asked_for_are_given() -> None:
    problem = {
        "type": "about:blank",
        "title": "Too many requests",
        "status": 429,
        "detail": "slow down",
    }
    limit = answering(429, problem, **{"Retry-After": "7"})
    with Client(BASE, "t", transport=limit) as ogm, pytest.raises(RateLimited) as limited:
        ogm.list_shares()
    assert limited.value.retry_after == 7.0 and limited.value.detail == "slow down"
    with (
        Client(
            BASE, "t", transport=answering(503, {"detail": "busy"}, **{"Retry-After": "2"})
        ) as ogm,
        pytest.raises(Busy) as busy,
    ):
        ogm.list_shares()
    assert busy.value.retry_after == 2.0
    slow_peer = answering(504, {"detail": "a.example was slow"})
    with Client(BASE, "t", transport=slow_peer) as ogm, pytest.raises(PeerTimeout) as slow:
        ogm.access_share(1)
    assert "a.example" in slow.value.detail


def test_next_links_to_another_server_are_not_followed() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        page = {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "id": 1}],
            "links": [{"rel": "next", "href": "http://elsewhere.example/collections/x/items"}],
        }
        assert request.url.host == "ogm.test", "followed a link to another server"
        return httpx.Response(200, json=page)

    with Client(BASE, "t", transport=httpx.MockTransport(answer)) as ogm:
        pages = ogm.iter_features("x")
        assert next(pages)["id"] == 1
        with pytest.raises(ClientError, match="another server"):
            next(pages)


def test_an_unreachable_server_is_named() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    with Client(nowhere, "t", timeout=2) as ogm, pytest.raises(ServerUnreachable) as down:
        ogm.me()
    assert f"GET {nowhere}/manage/me: " in str(down.value)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (models.Me, manage.MeOut),
        (models.Token, manage.TokenOut),
        (models.NewToken, manage.NewTokenOut),
        (models.Collection, manage.CollectionOut),
        (models.Grant, manage.GrantOut),
        (models.Change, manage.ChangeOut),
        (models.Imported, manage.ImportOut),
        (models.Invite, manage_federation.InviteOut),
        (models.NewInvite, manage_federation.NewInviteOut),
        (models.Contact, manage_federation.ContactOut),
        (models.AcceptedInvite, manage_federation.AcceptedOut),
        (models.Peer, manage_federation.PeerOut),
        (models.Share, manage_shares.ShareOut),
        (models.Delivery, manage_shares.DeliveryOut),
        (models.ReceivedShare, manage_shares.ReceivedOut),
        (models.DirectAccess, manage_shares.AccessOut),
        (models.SharingRule, manage_shares.RuleOut),
    ],
)
def test_models_hold_what_the_server_answers(
    ours: type[BaseModel], theirs: type[BaseModel]
) -> None:
    assert set(ours.model_fields) == set(theirs.model_fields)


def test_the_async_client(world: World) -> None:
    app = create_app(world.services.settings, world.services)

    async def flow() -> None:
        transport = httpx.ASGITransport(app)
        async with AsyncClient(BASE, world.tokens["alice"], transport=transport) as alice:
            assert (await alice.me()).name == "alice"
            made = await alice.create_collection("staging", title="Staging areas")
            assert made.id == "staging"
            await alice.import_features(
                "staging",
                io.BytesIO(
                    orjson.dumps(
                        {
                            "type": "FeatureCollection",
                            "features": [
                                {"type": "Feature", "id": n, "geometry": None, "properties": {}}
                                for n in range(1, 6)
                            ],
                        }
                    )
                ),
            )
            ids = [f["id"] async for f in alice.iter_features("staging", limit=2)]
            assert ids == [1, 2, 3, 4, 5]
            invite = await alice.create_invite()
            assert [i.id for i in await alice.list_invites()] == [invite.id]
            with pytest.raises(InvalidInput) as bad:
                await alice.update_share(1, "everything")
            assert bad.value.parameter == "permission"
            await alice.delete_collection("staging")
            with pytest.raises(NotFound):
                await alice.get_collection("staging")

    asyncio.run(flow())
