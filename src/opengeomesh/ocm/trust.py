"""The operator's trust policy: which servers this one deals with.

A blocked server is always refused. In ``open`` mode any other server is accepted; in
``allowlist`` mode only servers the operator trusts or met before through an invite; in
``invite-only`` mode the same, but an invite itself may introduce a new server.
"""

from __future__ import annotations

from opengeomesh.errors import Forbidden
from opengeomesh.ocm.addresses import normalise_host
from opengeomesh.ocm.models import Peer, TrustMode
from opengeomesh.ocm.store import OcmStore


class Untrusted(Forbidden):
    """The other server is not one this server's trust policy accepts."""


class TrustPolicy:
    """Decides about other servers, and says so in discovery ``criteria``."""

    def __init__(self, mode: TrustMode, store: OcmStore, *, accept_unsigned: bool) -> None:
        self.mode = mode
        self._store = store
        self.accept_unsigned = accept_unsigned

    def criteria(self) -> list[str]:
        """The discovery ``criteria`` that express this policy."""
        found = [] if self.accept_unsigned else ["must-use-http-sig"]
        if self.mode is TrustMode.ALLOWLIST:
            found.append("allowlist")
        if self.mode is TrustMode.INVITE_ONLY:
            found.append("must-invite")
        if any(peer.blocked for peer in self._store.peers()):
            found.append("denylist")
        return found

    def refuse_blocked(self, host: str) -> None:
        """Refuse a blocked server before doing anything for it, even discovery."""
        peer = self._store.peer(host)
        if peer is not None and peer.blocked:
            raise Untrusted(f"{host} is blocked by this server's operator")

    def check(self, host: str, *, invite: bool = False) -> None:
        """Refuse ``host`` unless the policy accepts it; ``invite`` for an invite being
        accepted, which may introduce a server in ``invite-only`` mode."""
        self.refuse_blocked(host)
        if self.mode is TrustMode.OPEN:
            return
        peer = self._store.peer(host)
        known = peer is not None and (peer.trusted or peer.invited)
        if known or (invite and self.mode is TrustMode.INVITE_ONLY):
            return
        if self.mode is TrustMode.ALLOWLIST:
            raise Untrusted(f"{host} is not on this server's allowlist")
        raise Untrusted(f"{host} has not been met through an accepted invite")

    def peer(self, host: str) -> Peer | None:
        return self._store.peer(host)

    def peers(self) -> list[Peer]:
        return self._store.peers()

    def trust(self, host: str) -> Peer:
        return self._store.set_peer(normalise_host(host), trusted=True, blocked=False)

    def block(self, host: str) -> Peer:
        return self._store.set_peer(normalise_host(host), trusted=False, blocked=True)

    def forget(self, host: str) -> Peer:
        """Neither trusted nor blocked any more (an accepted invite still counts)."""
        return self._store.set_peer(normalise_host(host), trusted=False, blocked=False)
