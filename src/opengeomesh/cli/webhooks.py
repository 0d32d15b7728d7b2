"""``opengeomesh webhook …``: signed HTTP callbacks about shares, invites and layers. Without
``--user`` the operator's server-wide endpoints (every event of the server)."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from opengeomesh.cli import DataOpt, DbOpt, UserOpt, _caller, _services, app, out
from opengeomesh.webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookEndpoint

webhook_app = typer.Typer(
    help="Webhooks: signed callbacks about shares, invites and layers.", no_args_is_help=True
)
app.add_typer(webhook_app, name="webhook")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts)")]


def _endpoint_row(endpoint: WebhookEndpoint) -> dict[str, object]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "owner": endpoint.owner,
        "created": endpoint.created.isoformat(),
    }


def _delivery_row(delivery: WebhookDelivery) -> dict[str, object]:
    following = delivery.next_attempt_time
    return {
        "id": delivery.id,
        "message_id": delivery.message_id,
        "event_type": delivery.event_type,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "next_attempt": None if following is None else following.isoformat(),
    }


@webhook_app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(help="Where deliveries are POSTed")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event", help=f"An event type (repeat; default all): {', '.join(EVENT_TYPES)}"
        ),
    ] = None,
    user: UserOpt = None,
    as_json: AsJson = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Register an endpoint: a user's gets that user's events; without --user, every event
    of the server. Prints the signing secret, shown this once."""
    with _services(data, database_url) as services:
        endpoint, secret = services.webhooks.add(
            _caller(services, user), url, event or (), server_wide=user is None
        )
    if as_json:
        print(orjson.dumps({**_endpoint_row(endpoint), "secret": secret}).decode())
        return
    out.print(f"webhook {endpoint.id} for {', '.join(endpoint.events)}")
    out.print(f"secret (shown once, keep it to verify signatures): {secret}")


@webhook_app.command("list")
def webhook_list(
    user: UserOpt = None, as_json: AsJson = False, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """List endpoints: a user's, or every endpoint without --user."""
    with _services(data, database_url) as services:
        rows = [_endpoint_row(e) for e in services.webhooks.endpoints(_caller(services, user))]
    if as_json:
        print(orjson.dumps(rows).decode())
        return
    table = Table("id", "url", "owner", "events")
    for row in rows:
        events = row["events"]
        assert isinstance(events, list)
        table.add_row(
            str(row["id"]), str(row["url"]), str(row["owner"] or "(all)"), " ".join(events)
        )
    out.print(table)


@webhook_app.command("remove")
def webhook_remove(
    webhook_id: int, user: UserOpt = None, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """Remove an endpoint with its deliveries (waiting ones are not sent)."""
    with _services(data, database_url) as services:
        services.webhooks.remove(_caller(services, user), webhook_id)
    out.print(f"webhook {webhook_id} removed")


@webhook_app.command("test")
def webhook_test(
    webhook_id: int,
    user: UserOpt = None,
    as_json: AsJson = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Send a webhook.test event to an endpoint now and say how it went (a failed attempt
    is retried by the server)."""
    with _services(data, database_url) as services:
        delivery = services.webhooks.test(_caller(services, user), webhook_id)
    if as_json:
        print(orjson.dumps(_delivery_row(delivery)).decode())
        return
    if delivery.last_status is not None and 200 <= delivery.last_status < 300:
        out.print(f"delivered {delivery.message_id}: answered {delivery.last_status}")
        return
    out.print(f"not delivered ({delivery.status}): {delivery.last_error}")
    raise typer.Exit(1)


@webhook_app.command("deliveries")
def webhook_deliveries(
    webhook_id: int,
    user: UserOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many")] = 20,
    as_json: AsJson = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """List an endpoint's deliveries, newest first, with their status."""
    with _services(data, database_url) as services:
        found = services.webhooks.deliveries(_caller(services, user), webhook_id, limit)
    rows = [_delivery_row(d) for d in found]
    if as_json:
        print(orjson.dumps(rows).decode())
        return
    columns = (
        "id",
        "event_type",
        "status",
        "attempts",
        "last_status",
        "last_error",
        "next_attempt",
    )
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row[c] if row[c] is not None else "") for c in columns))
    out.print(table)
