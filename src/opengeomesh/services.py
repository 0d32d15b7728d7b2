"""The domain services of one server, built from settings: shared by the HTTP app and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opengeomesh.accounts.directory import AccountDirectory
from opengeomesh.accounts.models import Caller
from opengeomesh.config import Settings
from opengeomesh.features.catalog import Catalog
from opengeomesh.features.changes import ChangeFeed, ChangeHub
from opengeomesh.features.editing import Editing
from opengeomesh.features.mount_watch import MountWatch
from opengeomesh.features.remote import RemoteLayers
from opengeomesh.features.remote_changes import RemoteChanges
from opengeomesh.features.upstream import UpstreamFeatures
from opengeomesh.features.upstreams import Upstreams
from opengeomesh.limits.rates import RateLimiter
from opengeomesh.ocm.client import OutboundClient
from opengeomesh.ocm.federation import Federation, open_federation
from opengeomesh.ocm.secretbox import SecretBox
from opengeomesh.ocm.sharing import SHARE_TOKEN_PREFIX
from opengeomesh.storage.stores import Stores, open_stores
from opengeomesh.webhooks.delivery import WebhookSender
from opengeomesh.webhooks.service import Webhooks


@dataclass(frozen=True, slots=True)
class Services:
    """What the adapters (HTTP, CLI) talk to."""

    settings: Settings
    accounts: AccountDirectory
    catalog: Catalog
    editing: Editing
    changes: ChangeFeed
    federation: Federation
    mounts: RemoteLayers
    mount_changes: RemoteChanges
    mount_watch: MountWatch
    upstreams: Upstreams
    upstream_features: UpstreamFeatures
    hub: ChangeHub
    stores: Stores
    webhooks: Webhooks
    limiter: RateLimiter

    def caller_for_token(self, token: str | None) -> Caller:
        """The caller a bearer token stands for: a local user's personal token, or the
        access token of a share this server sent."""
        if token is not None and token.startswith(SHARE_TOKEN_PREFIX):
            return self.federation.sharing.caller_for_token(token)
        return self.accounts.caller_for_token(token)

    def close(self) -> None:
        self.federation.close()
        self.stores.database.close()


def open_services(settings: Settings, *, serving: bool = False, prepared: bool = False) -> Services:
    """Create the data directory, migrate the database and build the services.

    ``serving`` for the process that starts a server (not a CLI command beside it): it also
    renews a signing key named after an old host. ``prepared`` for one of several workers,
    whose parent did that start-up work once before starting them: the database is only
    checked, never migrated, and no key is renewed.
    """
    if not prepared:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    stores = open_stores(settings, migrate=not prepared)
    accounts = AccountDirectory(stores.accounts)
    limiter = RateLimiter(stores.rate_limits)
    catalog = Catalog(
        stores.collections, stores.features, accounts, count_limit=settings.count_limit
    )
    federation = open_federation(
        settings,
        stores.federation,
        stores.shares,
        accounts,
        catalog,
        serving=serving and not prepared,
        limiter=limiter,
    )
    catalog.before_delete(federation.sharing.collection_deleted)
    catalog.after_access_change(federation.sharing.access_changed)
    hub = ChangeHub()
    catalog.after_access_change(hub.wake)  # followers check their access again at once
    if serving or prepared:  # writes of other processes wake this one's followers too
        stores.database.listen_for_changes(hub.wake, hub.wake_all)
    mounts = RemoteLayers(
        federation.inbox, federation.client, max_page_bytes=settings.max_remote_page_bytes
    )
    upstreams = Upstreams(
        stores.upstreams,
        catalog,
        SecretBox(settings.data_dir / "keys"),
        _upstream_clients(settings, federation.client),
    )
    mount_changes = RemoteChanges(
        mounts,
        federation.inbox,
        federation.client,
        poll_seconds=settings.change_poll_seconds,
        keepalive_seconds=settings.change_keepalive_seconds,
        # a sender's keep-alives may come less often than ours: reconnecting is harmless
        idle_seconds=settings.peer_timeout + 2 * settings.change_keepalive_seconds,
        max_event_bytes=settings.max_remote_page_bytes,
    )
    editing = Editing(catalog, stores.features, stores.feature_writes, hub)
    webhooks = _webhooks(settings, stores, federation)
    federation.sharing.on_event = webhooks.emit
    federation.inbox.on_event = webhooks.emit
    federation.invites.on_event = webhooks.emit
    editing.after_write.append(webhooks.layer_changed)
    catalog.after_import(webhooks.layer_changed)
    return Services(
        settings=settings,
        accounts=accounts,
        catalog=catalog,
        editing=editing,
        changes=ChangeFeed(
            catalog,
            stores.feature_writes,
            hub,
            poll_seconds=settings.change_poll_seconds,
            keepalive_seconds=settings.change_keepalive_seconds,
        ),
        federation=federation,
        mounts=mounts,
        mount_changes=mount_changes,
        mount_watch=MountWatch(mount_changes),
        upstreams=upstreams,
        upstream_features=UpstreamFeatures(
            upstreams, catalog, max_page_bytes=settings.max_remote_page_bytes
        ),
        hub=hub,
        stores=stores,
        webhooks=webhooks,
        limiter=limiter,
    )


def _webhooks(settings: Settings, stores: Stores, federation: Federation) -> Webhooks:
    """Webhooks, delivered by the outbox's courier through the guarded outbound client."""
    secrets = SecretBox(settings.data_dir / "keys")
    sender = WebhookSender(
        stores.webhooks,
        secrets,
        federation.client,
        retry_seconds=settings.delivery_retry_seconds,
    )
    return Webhooks(
        stores.webhooks,
        secrets,
        sender,
        host=federation.host,
        base_url=federation.base_url,
        allow_private=settings.allow_private_peers,
        wake=federation.outbox.wake,
    )


def _upstream_clients(
    settings: Settings, guarded: OutboundClient
) -> Callable[[bool], OutboundClient]:
    """The outbound client for an upstream: the guarded one, or, for an upstream registered
    with ``--allow-private`` (the operator's own server on loopback or a private network), one
    that may connect there. Link-local and multicast stay refused either way."""
    private: list[OutboundClient] = []

    def client_for(allow_private: bool) -> OutboundClient:
        if not allow_private or settings.allow_private_peers:
            return guarded
        if not private:
            private.append(
                OutboundClient(
                    allow_private=True,
                    timeout=settings.peer_timeout,
                    max_response_bytes=settings.max_peer_response_bytes,
                )
            )
        return private[0]

    return client_for
