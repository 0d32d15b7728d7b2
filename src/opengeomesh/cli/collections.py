"""``opengeomesh collection …``: layers, their features, grants and the record of changes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from opengeomesh.accounts.models import Caller
from opengeomesh.cli import (
    DataOpt,
    DbOpt,
    UserOpt,
    _caller,
    _services,
    collection_app,
    err,
    out,
)
from opengeomesh.errors import Conflict
from opengeomesh.features.encoding import geojson_chunks
from opengeomesh.features.importing import format_for
from opengeomesh.services import Services


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
