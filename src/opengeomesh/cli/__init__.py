"""The operator's and scripts' way in: ``opengeomesh serve``, accounts, collections, settings.

Commands work on the database directly (``--data DIR`` or ``--database-url``); those that act
for a user take ``--user NAME``. Without ``--user``, a command acts as the operator who holds
the data directory.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from opengeomesh.accounts.models import Caller, User
from opengeomesh.config import Settings, load_settings
from opengeomesh.errors import Conflict, OpenGeoMeshError
from opengeomesh.features.encoding import geojson_chunks
from opengeomesh.features.importing import format_for
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
DbOpt = Annotated[str | None, typer.Option("--database-url", help="sqlite:///PATH")]
UserOpt = Annotated[str | None, typer.Option("--user", help="Act as this local user")]

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
    sample: Annotated[bool, typer.Option(help="Load sample layers into an empty server")] = False,
    allow_private_peers: Annotated[
        bool | None,
        typer.Option("--allow-private-peers", help="Development: peers on loopback/private nets"),
    ] = None,
) -> None:
    """Serve the OGC API, OCM and the management API (HTTP/1.1, uvicorn)."""
    import uvicorn

    from opengeomesh.app import create_app

    settings = _settings(
        data,
        database_url,
        host=host,
        port=port,
        public_url=public_url,
        allow_private_peers=allow_private_peers,
    )
    services = open_services(settings, serving=True)
    if sample:
        _load_sample(services)
    application = create_app(settings, services)
    err.print(f"OpenGeoMesh serving {settings.data_dir} on http://{settings.host}:{settings.port}")
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        http="httptools",
        log_level=settings.log_level,
        proxy_headers=True,
    )


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
        version = services.stores.database.migrate()
    out.print(f"database at schema version {version}")


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


# --- collections ---------------------------------------------------------------------------


@collection_app.command("create")
def collection_create(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    user: Annotated[str, typer.Option("--user", help="Owner of the new collection")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    title: str = "",
    description: str = "",
    public: Annotated[bool, typer.Option(help="Anyone may read it")] = False,
    temporal_property: Annotated[
        str | None, typer.Option(help="Property holding each feature's time")
    ] = None,
) -> None:
    """Create an empty collection."""
    with _services(data, database_url) as services:
        services.catalog.create(
            _caller(services, user),
            collection_id,
            title=title,
            description=description,
            public=public,
            temporal_property=temporal_property,
        )
    out.print(f"collection {collection_id} created")


@collection_app.command("import")
def collection_import(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    file: Annotated[Path, typer.Argument(help="GeoJSON or newline-delimited GeoJSON; - for stdin")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
    create: Annotated[bool, typer.Option(help="Create the collection if missing")] = False,
    title: str = "",
    public: bool = False,
    temporal_property: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add the features of a file to a collection: all of them, or none if one is bad."""
    with _services(data, database_url) as services:
        caller = _caller(services, user)
        if create:
            if user is None:
                raise typer.BadParameter("--create needs --user (the owner)")
            with suppress(Conflict):  # it exists: add to it
                services.catalog.create(
                    caller,
                    collection_id,
                    title=title,
                    public=public,
                    temporal_property=temporal_property,
                )
        count = _import(services, caller, collection_id, file)
    out.print(f"imported {count} features into {collection_id}")


def _import(services: Services, caller: Caller, collection_id: str, file: Path) -> int:
    if str(file) == "-":
        return services.catalog.import_features(caller, collection_id, sys.stdin.buffer)
    if not file.is_file():
        raise typer.BadParameter(f"{file} is not a file", param_hint="FILE")
    columns = (BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress, file.open("rb") as stream:
        task = progress.add_task("import", total=file.stat().st_size)
        advance: Callable[[int], None] = lambda n: progress.advance(task, n)  # noqa: E731
        return services.catalog.import_features(
            caller, collection_id, stream, format_for(name=file.name), advance
        )


@collection_app.command("export")
def collection_export(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    file: Annotated[Path, typer.Argument(help="Where to write GeoJSON; - for stdout")] = Path("-"),
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
) -> None:
    """Write a collection's features as one GeoJSON FeatureCollection."""
    with _services(data, database_url) as services:
        _, features = services.catalog.export(_caller(services, user), collection_id)
        if str(file) == "-":
            for chunk in geojson_chunks(features):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        partial = file.with_name(file.name + ".partial")
        try:
            with partial.open("wb") as target:
                for chunk in geojson_chunks(features):
                    target.write(chunk)
            partial.replace(file)
        finally:
            partial.unlink(missing_ok=True)
    err.print(f"exported {collection_id} to {file}")


@collection_app.command("list")
def collection_list(data: DataOpt = None, database_url: DbOpt = None, user: UserOpt = None) -> None:
    """List collections (those a user may read, with --user)."""
    with _services(data, database_url) as services:
        table = Table("id", "title", "owner", "features", "public", "access")
        for found, access in services.catalog.visible(_caller(services, user)):
            table.add_row(
                found.id,
                found.title,
                found.owner_name,
                str(found.feature_count),
                "yes" if found.public else "",
                access.name.lower(),
            )
    out.print(table)


@collection_app.command("delete")
def collection_delete(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
) -> None:
    """Delete a collection and all its features."""
    with _services(data, database_url) as services:
        services.catalog.delete(_caller(services, user), collection_id)
    out.print(f"collection {collection_id} deleted")


@collection_app.command("update")
def collection_update(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
    title: str | None = None,
    description: str | None = None,
    public: Annotated[bool | None, typer.Option("--public/--private")] = None,
) -> None:
    """Change a collection's title, description or public reading."""
    with _services(data, database_url) as services:
        services.catalog.update(
            _caller(services, user),
            collection_id,
            title=title,
            description=description,
            public=public,
        )
    out.print(f"collection {collection_id} updated")


@collection_app.command("grant")
def collection_grant(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    subject: Annotated[str, typer.Argument(help="user:NAME or group:NAME")],
    permission: Annotated[str, typer.Option(help="read or write")] = "read",
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
) -> None:
    """Give a local user or group read or write access."""
    with _services(data, database_url) as services:
        services.catalog.grant(_caller(services, user), collection_id, subject, permission)
    out.print(f"{subject} may {permission} {collection_id}")


@collection_app.command("ungrant")
def collection_ungrant(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    subject: Annotated[str, typer.Argument(help="user:NAME or group:NAME")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
) -> None:
    """Take a local grant back."""
    with _services(data, database_url) as services:
        services.catalog.ungrant(_caller(services, user), collection_id, subject)
    out.print(f"{subject} no longer holds a grant on {collection_id}")


@collection_app.command("changes")
def collection_changes(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 50,
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
) -> None:
    """Who changed which feature of a collection, and when."""
    with _services(data, database_url) as services:
        changes = services.editing.changes(_caller(services, user), collection_id, limit=limit)
    table = Table("seq", "at", "actor", "action", "feature", "version")
    for seq, change in changes:
        table.add_row(
            str(seq),
            change.at.isoformat(),
            change.actor,
            change.action.value,
            change.feature_id,
            str(change.version),
        )
    out.print(table)


# --- federation ----------------------------------------------------------------------------

UserReq = Annotated[str, typer.Option("--user", help="Act as this local user")]


@invite_app.command("create")
def invite_create(user: UserReq, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Make a single-use invite; give the invite string to the person you invite."""
    with _services(data, database_url) as services:
        issued = services.federation.invites.create(_caller(services, user))
    err.print(f"invite {issued.invite.id} of {user}, valid until {issued.invite.expires}")
    err.print(f"link: {issued.link}")
    print(issued.invite_string)


@invite_app.command("accept")
def invite_accept(
    invite: str, user: UserReq, data: DataOpt = None, database_url: DbOpt = None
) -> None:
    """Accept another server's invite: both servers record each other."""
    with _services(data, database_url) as services:
        invites = services.federation.invites
        host, organisation = invites.preview(invite)
        err.print(f"The invite comes from {organisation} ({host}).")
        accepted = invites.accept(_caller(services, user), invite)
    out.print(
        f"{user} and {accepted.contact.name} <{accepted.contact.address}> of"
        f" {accepted.organisation} are now contacts"
    )


@invite_app.command("list")
def invite_list(user: UserReq, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """List a user's invites."""
    with _services(data, database_url) as services:
        table = Table("id", "created", "expires", "accepted by")
        for found in services.federation.invites.of(_caller(services, user)):
            table.add_row(
                str(found.id),
                found.created.isoformat(),
                found.expires.isoformat(),
                found.accepted_by or "",
            )
    out.print(table)


@contact_app.command("list")
def contact_list(user: UserReq, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """List a user's contacts at other servers."""
    with _services(data, database_url) as services:
        table = Table("address", "name", "email")
        for contact in services.federation.invites.contacts(_caller(services, user)):
            table.add_row(contact.address, contact.name, contact.email)
    out.print(table)


@peer_app.command("list")
def peer_list(data: DataOpt = None, database_url: DbOpt = None) -> None:
    """List other servers and the trust policy."""
    with _services(data, database_url) as services:
        policy = services.federation.policy
        table = Table("host", "organisation", "trusted", "blocked", "met by invite")
        for peer in policy.peers():
            table.add_row(
                peer.host,
                peer.organisation,
                _yes(peer.trusted),
                _yes(peer.blocked),
                _yes(peer.invited),
            )
    err.print(f"trust mode: {policy.mode}")
    out.print(table)


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


@peer_app.command("trust")
def peer_trust(host: str, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Trust a server (put it on the allowlist)."""
    with _services(data, database_url) as services:
        peer = services.federation.policy.trust(host)
    out.print(f"{peer.host} is trusted")


@peer_app.command("block")
def peer_block(host: str, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Block a server: it is refused whatever else holds."""
    with _services(data, database_url) as services:
        peer = services.federation.policy.block(host)
    out.print(f"{peer.host} is blocked")


@peer_app.command("forget")
def peer_forget(host: str, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Neither trust nor block a server any more."""
    with _services(data, database_url) as services:
        peer = services.federation.policy.forget(host)
    out.print(f"{peer.host} is neither trusted nor blocked")


@keys_app.command("rotate")
def keys_rotate(data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Add a new signing key; older keys stay published for the grace period."""
    with _services(data, database_url) as services:
        key = services.federation.keyring.rotate()
        published = [k.kid for k in services.federation.keyring.published()]
    out.print(f"signing with {key.kid}; published: {', '.join(published)}")


# Commands kept in their own modules register themselves on ``app`` when imported.
from opengeomesh.cli import demo, shares  # noqa: E402, F401
