"""``opengeomesh invite|contact|peer|keys …``: meeting other organisations and the trust
policy."""

from __future__ import annotations

from rich.table import Table

from opengeomesh.cli import (
    DataOpt,
    DbOpt,
    UserOpt,
    _caller,
    _services,
    contact_app,
    err,
    invite_app,
    keys_app,
    out,
    peer_app,
)
from opengeomesh.cli.remote import ServerOpt, TokenOpt, local_user, remote, server_url


@invite_app.command("create")
def invite_create(
    user: UserOpt = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Make a single-use invite; give the invite string to the person you invite."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            made = client.create_invite()
            user = client.me().name if user is None else user
        invite_id, expires, link, text = made.id, made.expires, made.link, made.invite
    else:
        with _services(data, database_url) as services:
            issued = services.federation.invites.create(_caller(services, local_user(user)))
        invite_id, expires = issued.invite.id, issued.invite.expires
        link, text = issued.link, issued.invite_string
    err.print(f"invite {invite_id} of {user}, valid until {expires}")
    err.print(f"link: {link}")
    print(text)


@invite_app.command("accept")
def invite_accept(
    invite: str,
    user: UserOpt = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Accept another server's invite: both servers record each other."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            accepted = client.accept_invite(invite)
            user = client.me().name if user is None else user
        met, organisation = (accepted.contact.name, accepted.contact.address), accepted.organisation
    else:
        with _services(data, database_url) as services:
            invites = services.federation.invites
            host, organisation = invites.preview(invite)
            err.print(f"The invite comes from {organisation} ({host}).")
            done = invites.accept(_caller(services, local_user(user)), invite)
        met, organisation = (done.contact.name, done.contact.address), done.organisation
    out.print(f"{user} and {met[0]} <{met[1]}> of {organisation} are now contacts")


@invite_app.command("list")
def invite_list(
    user: UserOpt = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """List a user's invites."""
    url = server_url(server, data, database_url)
    rows: list[tuple[str, ...]]
    if url is not None:
        with remote(url, token, user) as client:
            found = client.list_invites()
        rows = [
            (str(i.id), i.created.isoformat(), i.expires.isoformat(), i.accepted_by or "")
            for i in found
        ]
    else:
        with _services(data, database_url) as services:
            invites = services.federation.invites.of(_caller(services, local_user(user)))
        rows = [
            (str(i.id), i.created.isoformat(), i.expires.isoformat(), i.accepted_by or "")
            for i in invites
        ]
    table = Table("id", "created", "expires", "accepted by")
    for row in rows:
        table.add_row(*row)
    out.print(table)


@contact_app.command("list")
def contact_list(
    user: UserOpt = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """List a user's contacts at other servers."""
    url = server_url(server, data, database_url)
    if url is not None:
        with remote(url, token, user) as client:
            rows = [(c.address, c.name, c.email) for c in client.list_contacts()]
    else:
        with _services(data, database_url) as services:
            contacts = services.federation.invites.contacts(_caller(services, local_user(user)))
        rows = [(c.address, c.name, c.email) for c in contacts]
    table = Table("address", "name", "email")
    for row in rows:
        table.add_row(*row)
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
