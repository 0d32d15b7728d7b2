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
    UserReq,
    _caller,
    _services,
    app,
    err,
    out,
)
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
    user: UserReq,
    permission: Permission = "read",
    group: Annotated[bool, typer.Option("--group", help="The address names a group")] = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Share a collection with a user (or --group) at another server."""
    with _services(data, database_url) as services:
        share = services.federation.share(
            _caller(services, user), collection, address, permission, "group" if group else "user"
        )
        waiting = services.stores.shares.delivery_of(share.id)
    if waiting is not None:
        err.print(f"{share.recipient_host} cannot be reached now; the server will retry:")
        err.print(f"  {waiting.last_error}")
    recipient = f"{share.share_with} ({share.recipient_name})" if share.recipient_name else ""
    out.print(
        f"share {share.id}: {collection} → {recipient or share.share_with},"
        f" {permission}, {share.state}"
    )


@share_app.command("list")
def share_list(
    user: UserOpt = None,
    received: Annotated[bool, typer.Option("--received", help="Shares received")] = False,
    as_json: AsJson = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """List the shares a user sent (or, with --received, got); all of them without --user."""
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
) -> None:
    """Change a share's permission: effective at once; the recipient's server is told."""
    with _services(data, database_url) as services:
        share = services.federation.sharing.update(_caller(services, user), share_id, permission)
        _send_waiting(services)
    out.print(f"share {share.id} is now {share.permission}")


@share_app.command("revoke")
def share_revoke(
    share_id: int, user: UserOpt = None, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """Revoke a share: its secret and tokens stop working now; the recipient's server is told."""
    with _services(data, database_url) as services:
        share = services.federation.sharing.revoke(_caller(services, user), share_id)
        _send_waiting(services)
    out.print(f"share {share.id} of {share.collection_id} with {share.share_with} is revoked")


def _decide(share_id: int, user: str, data: DataOpt, database_url: DbOpt, accept: bool) -> None:
    with _services(data, database_url) as services:
        inbox = services.federation.inbox
        share = inbox.decide(_caller(services, user), share_id, accept=accept)
        _send_waiting(services)
    if accept:
        out.print(f"accepted: {share.name} from {share.sender}, now collection {share.mount_id}")
    else:
        out.print(f"declined: {share.name} from {share.sender}")


@share_app.command("accept")
def share_accept(
    share_id: int, user: UserReq, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """Accept a share received: it appears as a collection of this server's OGC API."""
    _decide(share_id, user, data, database_url, accept=True)


@share_app.command("decline")
def share_decline(
    share_id: int, user: UserReq, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """Decline a share received."""
    _decide(share_id, user, data, database_url, accept=False)


@share_app.command("access")
def share_access(
    share_id: int, user: UserReq, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """Direct access to the sender's server for an accepted share: its URL and a fresh token."""
    with _services(data, database_url) as services:
        inbox = services.federation.inbox
        share, token, lifetime = inbox.direct_access(_caller(services, user), share_id)
    err.print(f"collection: {share.uri} (token valid for {int(lifetime)} s)")
    print(token)


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
