"""``opengeomesh share …``: share collections with other servers, answer shares received, and
the operator's sharing rules. Messages to other servers are sent at once; what cannot be
delivered waits in the outbox, which the server works through."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer
from rich.table import Table

from opengeomesh.cli import (
    DataOpt,
    DbOpt,
    UserOpt,
    _caller,
    _services,
    app,
    err,
    out,
)
from opengeomesh.cli.remote import ServerOpt, TokenOpt, local_user, remote, server_url
from opengeomesh.ocm.models import OutboxItem, ReceivedShare, SentShare
from opengeomesh.services import Services

share_app = typer.Typer(
    help="Shares with other servers (OCM, protocol ogcapi).", no_args_is_help=True
)
policy_app = typer.Typer(help="The operator's sharing rules per collection.", no_args_is_help=True)
share_app.add_typer(policy_app, name="policy")
app.add_typer(share_app, name="share")

Permission = Annotated[str, typer.Option("--permission", help="read or write")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts)")]


def _send_waiting(services: Services) -> None:
    """Send what the gesture queued for other servers now; what fails waits for the server."""
    outbox = services.federation.outbox
    outbox.deliver_due()
    waiting = [i for i in services.stores.shares.waiting() if i.attempts and i.failed_at is None]
    for item in waiting:
        err.print(f"waiting to reach {item.host} (the server will retry): {item.last_error}")


SENT: tuple[str, ...] = ("id", "collection", "sender", "share_with", "share_type")
SENT += ("recipient_name", "permission", "state", "problem")
RECEIVED: tuple[str, ...] = ("id", "state", "share_type", "recipient", "name", "sender")
RECEIVED += ("sender_name", "permission", "collection", "remote_url")


def _pick(row: dict[str, object], names: tuple[str, ...]) -> dict[str, object]:
    """The members ``share list`` shows, as in the direct mode."""
    return {name: row[name] for name in names}


def _sent_row(share: SentShare) -> dict[str, object]:
    return {
        "id": share.id,
        "collection": share.collection_id,
        "sender": share.sender,
        "share_with": share.share_with,
        "share_type": share.share_type.value,
        "recipient_name": share.recipient_name,
        "permission": share.permission,
        "state": share.state.value,
        "problem": share.problem,
    }


def _received_row(share: ReceivedShare) -> dict[str, object]:
    return {
        "id": share.id,
        "state": share.state.value,
        "share_type": share.share_type.value,
        "recipient": share.recipient,
        "name": share.name,
        "sender": share.sender,
        "sender_name": share.sender_name,
        "permission": share.permission,
        "collection": share.mount_id,
        "remote_url": share.uri,
    }


@share_app.command("create")
def share_create(
    collection: str,
    address: Annotated[str, typer.Argument(help="Recipient: name@their-server")],
    user: UserOpt = None,
    permission: Permission = "read",
    group: Annotated[bool, typer.Option("--group", help="The address names a group")] = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Share a collection with a user (or --group) at another server."""
    share_type = "group" if group else "user"
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            made = client.create_share(
                collection, address, permission=permission, share_type=share_type
            )
        row, last_error = made.model_dump(), made.delivery.last_error if made.delivery else None
    else:
        with _services(data, database_url) as services:
            share = services.federation.share(
                _caller(services, local_user(user)), collection, address, permission, share_type
            )
            waiting = services.stores.shares.delivery_of(share.id)
        row, last_error = _sent_row(share), waiting.last_error if waiting else None
    if last_error is not None:
        host = str(row["share_with"]).rsplit("@", 1)[-1]
        err.print(f"{host} cannot be reached now; the server will retry:")
        err.print(f"  {last_error}")
    recipient = f"{row['share_with']} ({row['recipient_name']})" if row["recipient_name"] else ""
    out.print(
        f"share {row['id']}: {collection} → {recipient or row['share_with']},"
        f" {permission}, {row['state']}"
    )


@share_app.command("list")
def share_list(
    user: UserOpt = None,
    received: Annotated[bool, typer.Option("--received", help="Shares received")] = False,
    as_json: AsJson = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """List the shares a user sent (or, with --received, got); all of them without --user
    (with --server: those of the token's user; an operator's token sees all)."""
    url = server_url(server, data, database_url)
    rows: list[dict[str, object]]
    if url is not None:
        with remote(url, token, user) as client:
            if received:
                rows = [_pick(s.model_dump(), RECEIVED) for s in client.list_received_shares()]
            else:
                rows = [_pick(s.model_dump(), SENT) for s in client.list_shares()]
    else:
        with _services(data, database_url) as services:
            caller = _caller(services, user)
            if received:
                rows = [_received_row(s) for s in services.federation.inbox.shares(caller)]
            else:
                rows = [_sent_row(s) for s in services.federation.sharing.shares(caller)]
    if as_json:
        print(orjson.dumps(rows).decode())
        return
    columns = (
        ("id", "state", "name", "sender", "recipient", "permission", "collection")
        if received
        else ("id", "collection", "share_with", "recipient_name", "permission", "state", "problem")
    )
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    out.print(table)


@share_app.command("update")
def share_update(
    share_id: int,
    permission: Permission,
    user: UserOpt = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Change a share's permission: effective at once; the recipient's server is told."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            now = client.update_share(share_id, permission).permission
    else:
        with _services(data, database_url) as services:
            share = services.federation.sharing.update(
                _caller(services, user), share_id, permission
            )
            _send_waiting(services)
        now = share.permission
    out.print(f"share {share_id} is now {now}")


@share_app.command("revoke")
def share_revoke(
    share_id: int,
    user: UserOpt = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Revoke a share: its secret and tokens stop working now; the recipient's server is told."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            share = client.get_share(share_id)
            client.revoke_share(share_id)
        collection, share_with = share.collection, share.share_with
    else:
        with _services(data, database_url) as services:
            revoked = services.federation.sharing.revoke(_caller(services, user), share_id)
            _send_waiting(services)
        collection, share_with = revoked.collection_id, revoked.share_with
    out.print(f"share {share_id} of {collection} with {share_with} is revoked")


def _decide(
    share_id: int,
    user: str | None,
    data: DataOpt,
    database_url: DbOpt,
    remote_options: tuple[str | None, str | None],
    accept: bool,
) -> None:
    url = server_url(remote_options[0], data, database_url)
    if url is not None:
        with remote(url, remote_options[1], user) as client:
            decided = client.accept_share(share_id) if accept else client.decline_share(share_id)
        name, sender, mount = decided.name, decided.sender, decided.collection
    else:
        with _services(data, database_url) as services:
            inbox = services.federation.inbox
            share = inbox.decide(_caller(services, local_user(user)), share_id, accept=accept)
            _send_waiting(services)
        name, sender, mount = share.name, share.sender, share.mount_id
    if accept:
        out.print(f"accepted: {name} from {sender}, now collection {mount}")
    else:
        out.print(f"declined: {name} from {sender}")


@share_app.command("accept")
def share_accept(
    share_id: int,
    user: UserOpt = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Accept a share received: it appears as a collection of this server's OGC API."""
    _decide(share_id, user, data, database_url, (server, token), accept=True)


@share_app.command("decline")
def share_decline(
    share_id: int,
    user: UserOpt = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Decline a share received."""
    _decide(share_id, user, data, database_url, (server, token), accept=False)


@share_app.command("access")
def share_access(
    share_id: int,
    user: UserOpt = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Direct access to the sender's server for an accepted share: its URL and a fresh token."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            access = client.access_share(share_id)
        uri, secret, lifetime = access.collection_url, access.access_token, access.expires_in
    else:
        with _services(data, database_url) as services:
            inbox = services.federation.inbox
            share, secret, seconds = inbox.direct_access(
                _caller(services, local_user(user)), share_id
            )
        uri, lifetime = share.uri, int(seconds)
    err.print(f"collection: {uri} (token valid for {lifetime} s)")
    print(secret)


def _outbox_row(item: OutboxItem) -> dict[str, object]:
    failed = item.failed_at
    return {
        "id": item.id,
        "to": item.host,
        "what": f"share {item.share_id}" if item.share_id else "notification",
        "state": "waiting" if failed is None else "failed",
        "attempts": item.attempts,
        "last_error": item.last_error,
        "failed": None if failed is None else datetime.fromtimestamp(failed, UTC).isoformat(),
    }


@share_app.command("outbox")
def share_outbox(
    send: Annotated[bool, typer.Option("--send", help="Send what is due now")] = False,
    retry: Annotated[
        list[int] | None,
        typer.Option("--retry", help="Send a failed message again (its id; repeatable)"),
    ] = None,
    as_json: AsJson = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Messages waiting to reach other servers, and those the server gave up on (failed)."""
    with _services(data, database_url) as services:
        outbox = services.federation.outbox
        for item_id in retry or []:
            if outbox.retry(item_id) is None:
                err.print(f"no failed message {item_id} in the outbox")
                raise typer.Exit(1)
        if send or retry:
            outbox.deliver_due()
        rows = [_outbox_row(item) for item in services.stores.shares.waiting()]
    if as_json:
        print(orjson.dumps(rows).decode())
        return
    columns = ("id", "to", "what", "state", "attempts", "last_error", "failed")
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row[c] or "") for c in columns))
    out.print(table)


@policy_app.command("list")
def policy_list(collection: str, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """The sharing rules of a collection."""
    with _services(data, database_url) as services:
        rules = services.federation.sharing.rules(_caller(services, None), collection)
    table = Table("domain", "permission")
    for rule in rules:
        table.add_row(rule.domain, rule.permission)
    out.print(table)


@policy_app.command("set")
def policy_set(
    collection: str,
    domain: Annotated[str, typer.Argument(help="A host, *.example.org or *")],
    permission: Permission = "read",
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Let a collection be shared with peers matching DOMAIN up to a permission (none: never)."""
    with _services(data, database_url) as services:
        services.federation.sharing.set_rule(
            _caller(services, None), collection, domain, permission
        )
    out.print(f"{collection} may be shared with {domain} ({permission})")


@policy_app.command("remove")
def policy_remove(
    collection: str, domain: str, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """Remove a sharing rule."""
    with _services(data, database_url) as services:
        services.federation.sharing.remove_rule(_caller(services, None), collection, domain)
    out.print(f"removed the rule for {domain} from {collection}")
