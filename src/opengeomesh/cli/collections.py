"""``opengeomesh collection …``: layers, their features, grants and the record of changes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

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
from opengeomesh.cli.remote import ServerOpt, TokenOpt, local_user, remote, server_url
from opengeomesh.client import Client
from opengeomesh.client import Conflict as ConflictThere
from opengeomesh.errors import Conflict
from opengeomesh.features.encoding import geojson_chunks
from opengeomesh.features.importing import format_for
from opengeomesh.services import Services


@collection_app.command("create")
def collection_create(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    user: Annotated[str | None, typer.Option("--user", help="Owner of the new collection")] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    title: str = "",
    description: str = "",
    public: Annotated[bool, typer.Option(help="Anyone may read it")] = False,
    temporal_property: Annotated[
        str | None, typer.Option(help="Property holding each feature's time")
    ] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create an empty collection."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            client.create_collection(
                collection_id,
                title=title,
                description=description,
                public=public,
                temporal_property=temporal_property,
            )
        out.print(f"collection {collection_id} created")
        return
    with _services(data, database_url) as services:
        services.catalog.create(
            _caller(services, local_user(user)),
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
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Add the features of a file to a collection: all of them, or none if one is bad."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            if create:
                with suppress(ConflictThere):  # it exists: add to it
                    client.create_collection(
                        collection_id,
                        title=title,
                        public=public,
                        temporal_property=temporal_property,
                    )
            count = _send_file(client, collection_id, file)
        out.print(f"imported {count} features into {collection_id}")
        return
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


def _send_file(client: Client, collection_id: str, file: Path) -> int:
    """Import through a server: the file is streamed as the request body."""
    if str(file) == "-":
        return client.import_features(collection_id, sys.stdin.buffer).imported
    if not file.is_file():
        raise typer.BadParameter(f"{file} is not a file", param_hint="FILE")
    newline_delimited = format_for(name=file.name) is not None
    media_type = "application/x-ndjson" if newline_delimited else "application/geo+json"
    with file.open("rb") as stream:
        return client.import_features(collection_id, stream, media_type).imported


def _import(services: Services, caller: Caller, collection_id: str, file: Path) -> int:
    if str(file) != "-" and not file.is_file():
        raise typer.BadParameter(f"{file} is not a file", param_hint="FILE")
    with ImportProgress() as progress:
        if str(file) == "-":
            return services.catalog.import_features(
                caller, collection_id, sys.stdin.buffer, stored=progress.stored
            )
        with file.open("rb") as stream:
            read = progress.reading(file.stat().st_size)
            return services.catalog.import_features(
                caller, collection_id, stream, format_for(name=file.name), read, progress.stored
            )


class _Amount(ProgressColumn):
    """Bytes while the file is read and checked, features while they are written."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "bytes":
            return self._bytes.render(task)
        return Text(f"{int(task.completed):,}/{int(task.total or 0):,} features")


class ImportProgress:
    """Two bars on standard error: reading and checking the file, then writing the features
    into the database (one transaction, in batches)."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description:>8}"),
            BarColumn(),
            _Amount(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self._writing: TaskID | None = None

    def __enter__(self) -> ImportProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def reading(self, size: int) -> Callable[[int], None]:
        task = self._progress.add_task("checking", total=size, unit="bytes")
        return lambda n: self._progress.advance(task, n)

    def stored(self, count: int, total: int) -> None:
        if self._writing is None:
            self._writing = self._progress.add_task("writing", total=total)
        self._progress.update(self._writing, completed=count)


@collection_app.command("export")
def collection_export(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    file: Annotated[Path, typer.Argument(help="Where to write GeoJSON; - for stdout")] = Path("-"),
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Write a collection's features as one GeoJSON FeatureCollection."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            _write(iter([client.export_features(collection_id)]), file)
    else:
        with _services(data, database_url) as services:
            _, features = services.catalog.export(_caller(services, user), collection_id)
            _write(geojson_chunks(features), file)
    if str(file) != "-":
        err.print(f"exported {collection_id} to {file}")


def _write(chunks: Iterator[bytes], file: Path) -> None:
    """To standard output, or to ``file`` whole (a partial file is never left behind)."""
    if str(file) == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    partial = file.with_name(file.name + ".partial")
    try:
        with partial.open("wb") as target:
            for chunk in chunks:
                target.write(chunk)
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)


@collection_app.command("list")
def collection_list(
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """List collections (those a user may read, with --user or --server)."""
    url = server_url(server, data, database_url)
    table = Table("id", "title", "owner", "features", "public", "access")
    if url is not None:
        with remote(url, token, user) as client:
            rows = [
                (c.id, c.title, c.owner, c.features, c.public, c.access)
                for c in client.list_collections()
            ]
    else:
        with _services(data, database_url) as services:
            rows = [
                (c.id, c.title, c.owner_name, c.feature_count, c.public, a.name.lower())
                for c, a in services.catalog.visible(_caller(services, user))
            ]
    for found_id, title, owner, count, public, access in rows:
        table.add_row(found_id, title, owner, str(count), "yes" if public else "", access)
    out.print(table)


@collection_app.command("delete")
def collection_delete(
    collection_id: Annotated[str, typer.Argument(metavar="ID")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    user: UserOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a collection and all its features."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            client.delete_collection(collection_id)
        out.print(f"collection {collection_id} deleted")
        return
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
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Change a collection's title, description or public reading."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            client.update_collection(
                collection_id, title=title, description=description, public=public
            )
        out.print(f"collection {collection_id} updated")
        return
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
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Give a local user or group read or write access."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            client.grant(collection_id, subject, permission)
        out.print(f"{subject} may {permission} {collection_id}")
        return
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
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Take a local grant back."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            client.ungrant(collection_id, subject)
        out.print(f"{subject} no longer holds a grant on {collection_id}")
        return
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
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Who changed which feature of a collection, and when."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            rows = [
                (c.seq, c.at, c.actor, c.action, c.feature_id, c.version)
                for c in client.list_changes(collection_id, limit=limit)
            ]
    else:
        with _services(data, database_url) as services:
            changes = services.editing.changes(_caller(services, user), collection_id, limit=limit)
        rows = [(seq, c.at, c.actor, c.action.value, c.feature_id, c.version) for seq, c in changes]
    table = Table("seq", "at", "actor", "action", "feature", "version")
    for seq, at, actor, action, feature_id, version in rows:
        table.add_row(str(seq), at.isoformat(), actor, action, feature_id, str(version))
    out.print(table)
