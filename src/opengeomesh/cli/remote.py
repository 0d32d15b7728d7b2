"""The CLI's second way in: a user's gestures sent to a running server's management API with
the client library (``--server URL --token TOKEN``, or OGM_SERVER and OGM_TOKEN), instead of
working on the data directory directly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from opengeomesh.client import Client

ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="URL of a running server: act through its management API [env OGM_SERVER]",
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", help="Your personal token on --server [env OGM_TOKEN]"),
]


def server_url(server: str | None, data: Path | None, database_url: str | None) -> str | None:
    """The server to talk to, or None to work on the data directory: ``--server`` wins, then
    ``--data``/``--database-url``, then OGM_SERVER."""
    if server and (data is not None or database_url):
        raise typer.BadParameter("give --server, or --data/--database-url, not both")
    if server:
        return server
    if data is not None or database_url:
        return None
    return os.environ.get("OGM_SERVER") or None


@contextmanager
def remote(server: str, token: str | None, user: str | None) -> Iterator[Client]:
    """A client of ``server`` for the token's user; ``--user``, if given, must be that user."""
    token = token or os.environ.get("OGM_TOKEN")
    if not token:
        raise typer.BadParameter("--server needs your personal token: --token or OGM_TOKEN")
    with Client(server, token) as client:
        if user is not None:
            holder = client.me().name
            if holder != user:
                raise typer.BadParameter(
                    f"the token is {holder}'s, not {user}'s", param_hint="--user"
                )
        yield client


def local_user(user: str | None) -> str:
    """``--user``, which working on the data directory needs."""
    if user is None:
        raise typer.BadParameter(
            "--user is needed with the data directory (on a server, --token says who you are)",
            param_hint="--user",
        )
    return user
