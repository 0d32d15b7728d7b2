"""``opengeomesh upstream …``: the operator's own OGC API – Features servers behind this one."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from opengeomesh.cli import DataOpt, DbOpt, _caller, _services, app, out
from opengeomesh.features.upstreams import PART3_FILTER, PART4_WRITE

upstream_app = typer.Typer(
    help="Upstream OGC API – Features servers whose collections this server shares.",
    no_args_is_help=True,
)
app.add_typer(upstream_app, name="upstream")


def _secret(
    auth: str, password: str | None, token: str | None, header: str | None
) -> tuple[str, str]:
    """The header name (for auth 'header') and the secret the chosen auth needs."""
    if auth == "basic":
        return "", password or ""
    if auth == "bearer":
        return "", token or ""
    if auth == "header":
        name, sep, value = (header or "").partition(":")
        if not sep:
            raise typer.BadParameter("--header needs NAME:VALUE", param_hint="--header")
        return name.strip(), value.strip()
    if password or token or header:
        raise typer.BadParameter("credentials given, but --auth is none", param_hint="--auth")
    return "", ""


@upstream_app.command("add")
def upstream_add(
    url: Annotated[str, typer.Argument(help="Landing page URL of the OGC API server")],
    name: Annotated[str, typer.Option("--name", help="Local name of the upstream")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    auth: Annotated[str, typer.Option(help="none, basic, bearer or header")] = "none",
    username: Annotated[str, typer.Option(help="User name for basic auth")] = "",
    password: Annotated[str | None, typer.Option(help="Password for basic auth")] = None,
    token: Annotated[str | None, typer.Option(help="Token for bearer auth")] = None,
    header: Annotated[
        str | None, typer.Option(help="NAME:VALUE of the header for auth 'header'")
    ] = None,
    allow_private: Annotated[
        bool, typer.Option(help="The upstream may be on loopback or a private network")
    ] = False,
) -> None:
    """Register an upstream server (its /conformance is read with the credentials)."""
    header_name, secret = _secret(auth, password, token, header)
    with _services(data, database_url) as services:
        added = services.upstreams.add(
            _caller(services, None),
            name,
            url,
            auth=auth,
            username=username,
            secret=secret,
            header_name=header_name,
            allow_private=allow_private,
        )
    what = ", ".join(
        kind
        for kind, cls in (("filter", PART3_FILTER), ("write", PART4_WRITE))
        if added.declares(cls)
    )
    out.print(f"upstream {added.name} registered ({what or 'read only, no filters'})")


@upstream_app.command("list")
def upstream_list(data: DataOpt = None, database_url: DbOpt = None) -> None:
    """List upstream servers (secrets are never shown)."""
    with _services(data, database_url) as services:
        table = Table("name", "url", "auth", "private", "filter", "write", "collections")
        for upstream, exposed in services.upstreams.registered(_caller(services, None)):
            shown = upstream.described(exposed)
            table.add_row(
                upstream.name,
                upstream.base_url,
                upstream.auth + (f" ({shown['header']})" if "header" in shown else ""),
                "yes" if upstream.allow_private else "no",
                "yes" if shown["filter"] else "no",
                "yes" if shown["write"] else "no",
                ", ".join(exposed),
            )
    out.print(table)


@upstream_app.command("remove")
def upstream_remove(name: str, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Forget an upstream (delete the collections exposed from it first)."""
    with _services(data, database_url) as services:
        services.upstreams.remove(_caller(services, None), name)
    out.print(f"upstream {name} removed")


@upstream_app.command("refresh")
def upstream_refresh(name: str, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Read the upstream's /conformance again (after it was upgraded)."""
    with _services(data, database_url) as services:
        services.upstreams.refresh(_caller(services, None), name)
    out.print(f"upstream {name} refreshed")


@upstream_app.command("expose")
def upstream_expose(
    name: Annotated[str, typer.Argument(help="The upstream's local name")],
    collection: Annotated[str, typer.Argument(help="The upstream's collection id")],
    user: Annotated[str, typer.Option("--user", help="Owner of the local collection")],
    local_id: Annotated[
        str | None, typer.Option("--id", help="Local collection id (default: the same)")
    ] = None,
    public: Annotated[bool, typer.Option(help="Anyone may read it")] = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Expose an upstream collection as a local collection (title and description from
    the upstream); grant and share it like any other."""
    with _services(data, database_url) as services:
        created = services.upstreams.expose(
            _caller(services, None),
            name,
            collection,
            owner=services.accounts.caller_for_user(user),
            collection_id=local_id,
            public=public,
        )
    out.print(f"collection {created.id} exposed from {name}")
