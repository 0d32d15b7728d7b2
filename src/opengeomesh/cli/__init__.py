"""The operator's and scripts' way in: ``opengeomesh serve``, accounts, collections, settings.

Commands work on the database directly (``--data DIR`` or ``--database-url``); those that act
for a user take ``--user NAME``. Without ``--user``, a command acts as the operator who holds
the data directory. A user's gestures (collections, invites, contacts, shares) can instead go
to a running server with ``--server URL --token TOKEN`` (cli/remote.py, the client library).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from opengeomesh.accounts.models import Caller, User
from opengeomesh.client import ApiError, ClientError
from opengeomesh.config import Settings, load_settings
from opengeomesh.errors import OpenGeoMeshError
from opengeomesh.services import Services, open_services

app = typer.Typer(
    help="OpenGeoMesh: share live map layers across organisations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Local users.", no_args_is_help=True)
group_app = typer.Typer(help="Groups of local users.", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens.", no_args_is_help=True)
collection_app = typer.Typer(help="Collections (map layers).", no_args_is_help=True)
config_app = typer.Typer(help="Settings.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
invite_app = typer.Typer(help="Invites between organisations (OCM).", no_args_is_help=True)
contact_app = typer.Typer(help="Contacts met through invites.", no_args_is_help=True)
peer_app = typer.Typer(help="Other servers and the trust policy.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys of this server.", no_args_is_help=True)
for name, sub in (
    ("invite", invite_app),
    ("contact", contact_app),
    ("peer", peer_app),
    ("keys", keys_app),
    ("user", user_app),
    ("group", group_app),
    ("token", token_app),
    ("collection", collection_app),
    ("config", config_app),
    ("db", db_app),
):
    app.add_typer(sub, name=name)

# Stored text (titles, labels, names) is data, never rich markup or emoji codes; no wrapping.
out = Console(markup=False, emoji=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)

DataOpt = Annotated[Path | None, typer.Option("--data", help="Data directory [env OGM_DATA_DIR]")]
DbOpt = Annotated[
    str | None, typer.Option("--database-url", help="sqlite:///PATH or postgresql://…")
]
UserOpt = Annotated[str | None, typer.Option("--user", help="Act as this local user")]
UserReq = Annotated[str, typer.Option("--user", help="Act as this local user")]

OPERATOR = Caller(
    user=User(
        id=0,
        name="operator",
        display_name="operator",
        is_admin=True,
        created=datetime(1970, 1, 1, tzinfo=UTC),
    )
)


def main() -> None:
    """Entry point of the ``opengeomesh`` command."""
    try:
        app()
    except OpenGeoMeshError as exc:
        err.print(f"error: {exc.detail}", style="red")
        sys.exit(2)
    except ApiError as exc:  # a server's refusal, in the words the direct mode uses
        err.print(f"error: {exc.detail or exc}", style="red")
        sys.exit(2)
    except ClientError as exc:
        err.print(f"error: {exc}", style="red")
        sys.exit(2)
    except OSError as exc:
        err.print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), style="red")
        sys.exit(2)


def _settings(data: Path | None, database_url: str | None, **flags: Any) -> Settings:
    return load_settings({"data_dir": data, "database_url": database_url, **flags})


@contextmanager
def _services(data: Path | None, database_url: str | None) -> Iterator[Services]:
    services = open_services(_settings(data, database_url))
    try:
        yield services
    finally:
        services.close()


def _caller(services: Services, user: str | None) -> Caller:
    return OPERATOR if user is None else services.accounts.caller_for_user(user)


# --- serve, config, db ---------------------------------------------------------------------


@app.command()
def serve(
    data: DataOpt = None,
    database_url: DbOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    public_url: Annotated[str | None, typer.Option(help="URL clients reach us at")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Server processes answering on the one port [env OGM_WORKERS]"),
    ] = None,
    sample: Annotated[bool, typer.Option(help="Load sample layers into an empty server")] = False,
    allow_private_peers: Annotated[
        bool | None,
        typer.Option("--allow-private-peers", help="Development: peers on loopback/private nets"),
    ] = None,
) -> None:
    """Serve the OGC API, OCM and the management API (HTTP/1.1, uvicorn)."""
    from opengeomesh.cli import serving

    flags = {
        "data_dir": data,
        "database_url": database_url,
        "host": host,
        "port": port,
        "public_url": public_url,
        "workers": workers,
        "allow_private_peers": allow_private_peers,
    }
    settings = load_settings(flags)
    # The one-time start-up work, done here once, before any worker starts: the data
    # directory, migrations, keys (renewed when public_url names another host), sample data.
    services = open_services(settings, serving=True)
    if sample:
        _load_sample(services)
    processes = f", {settings.workers} workers" if settings.workers > 1 else ""
    err.print(
        f"OpenGeoMesh serving {settings.data_dir} on"
        f" http://{settings.host}:{settings.port}{processes}"
    )
    serving.run(settings, flags, services)


def _load_sample(services: Services) -> None:
    from opengeomesh import samples

    if services.accounts.users():
        err.print("Sample: the server has users already; nothing loaded.")
        return
    services.accounts.add_user("demo", "Demo operator", admin=True)
    caller = services.accounts.caller_for_user("demo")
    catalog = services.catalog
    catalog.create(
        caller,
        "hydrants",
        title="Fire hydrants",
        description="Hydrants of Musterstadt's fire brigade",
        public=True,
    )
    catalog.import_features(caller, "hydrants", io.BytesIO(orjson.dumps(samples.hydrants())))
    catalog.create(
        caller,
        "incident-sectors",
        title="Incident sectors",
        description="Sectors of the current incident",
        temporal_property="established",
    )
    catalog.import_features(
        caller, "incident-sectors", io.BytesIO(orjson.dumps(samples.incident_sectors()))
    )
    token = services.accounts.create_token("demo", "sample").secret
    err.print("Sample loaded: 'hydrants' (public) and 'incident-sectors' (needs a token).")
    err.print(f"Token of user 'demo' (shown once): {token}")


@config_app.command("check")
def config_check(data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Print the effective settings, secrets masked."""
    settings = _settings(data, database_url)
    out.print_json(orjson.dumps(settings.masked()).decode())


@db_app.command("upgrade")
def db_upgrade(data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Create the database or apply the migrations it lacks."""
    with _services(data, database_url) as services:
        revision = services.stores.database.migrate()
    out.print(f"database at schema revision {revision}")


# --- accounts ------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    name: str,
    data: DataOpt = None,
    database_url: DbOpt = None,
    display_name: Annotated[str, typer.Option(help="Name shown to people")] = "",
    email: Annotated[str, typer.Option(help="E-mail, given to contacts met by invite")] = "",
    admin: Annotated[bool, typer.Option(help="Give the operator (admin) role")] = False,
) -> None:
    """Add a local user."""
    with _services(data, database_url) as services:
        user = services.accounts.add_user(name, display_name, admin=admin, email=email)
    out.print(f"user {user.name} added{' (admin)' if user.is_admin else ''}")


@user_app.command("list")
def user_list(data: DataOpt = None, database_url: DbOpt = None) -> None:
    """List local users."""
    with _services(data, database_url) as services:
        table = Table("name", "display name", "admin", "created")
        for user in services.accounts.users():
            table.add_row(
                user.name,
                user.display_name,
                "yes" if user.is_admin else "",
                user.created.isoformat(),
            )
    out.print(table)


@group_app.command("add")
def group_add(name: str, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Add a group."""
    with _services(data, database_url) as services:
        services.accounts.add_group(name)
    out.print(f"group {name} added")


@group_app.command("add-member")
def group_add_member(
    group: str, user: str, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """Add a user to a group."""
    with _services(data, database_url) as services:
        found = services.accounts.add_member(group, user)
    out.print(f"group {found.name}: {', '.join(found.members)}")


@group_app.command("list")
def group_list(data: DataOpt = None, database_url: DbOpt = None) -> None:
    """List groups and their members."""
    with _services(data, database_url) as services:
        table = Table("group", "members")
        for group in services.accounts.groups():
            table.add_row(group.name, ", ".join(group.members))
    out.print(table)


@token_app.command("create")
def token_create(
    user: str,
    data: DataOpt = None,
    database_url: DbOpt = None,
    label: Annotated[str, typer.Option(help="What the token is for")] = "",
) -> None:
    """Create a personal API token; it is printed once, on standard output, alone."""
    with _services(data, database_url) as services:
        issued = services.accounts.create_token(user, label)
    err.print(f"token {issued.record.id} for {user}: keep it now, it is not shown again")
    print(issued.secret)


@token_app.command("list")
def token_list(user: str, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """List a user's tokens (the tokens themselves are never kept)."""
    with _services(data, database_url) as services:
        table = Table("id", "label", "created")
        for token in services.accounts.tokens(user):
            table.add_row(str(token.id), token.label, token.created.isoformat())
    out.print(table)


@token_app.command("delete")
def token_delete(
    user: str, token_id: int, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """Withdraw a token; it stops working at once."""
    with _services(data, database_url) as services:
        services.accounts.delete_token(user, token_id)
    out.print(f"token {token_id} of {user} withdrawn")


# Commands kept in their own modules register themselves on ``app`` when imported.
from opengeomesh.cli import (  # noqa: E402, F401
    collections,
    demo,
    federation,
    shares,
    upstreams,
    webhooks,
)
