"""``opengeomesh invite|contact|peer|keys …``: meeting other organisations and the trust
policy."""

from __future__ import annotations

from rich.table import Table

from opengeomesh.cli import (
    DataOpt,
    DbOpt,
    UserReq,
    _caller,
    _services,
    contact_app,
    err,
    invite_app,
    keys_app,
    out,
    peer_app,
)


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
