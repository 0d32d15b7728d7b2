"""The domain services of one server, built from settings: shared by the HTTP app and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from opengeomesh.accounts.directory import AccountDirectory
from opengeomesh.accounts.models import Caller
from opengeomesh.config import Settings
from opengeomesh.features.catalog import Catalog
from opengeomesh.features.changes import ChangeFeed, ChangeHub
from opengeomesh.features.editing import Editing
from opengeomesh.features.remote import RemoteLayers
from opengeomesh.features.remote_changes import RemoteChanges
from opengeomesh.ocm.federation import Federation, open_federation
from opengeomesh.ocm.sharing import SHARE_TOKEN_PREFIX
from opengeomesh.storage.stores import Stores, open_stores


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
    stores: Stores

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
    return Services(
        settings=settings,
        accounts=accounts,
        catalog=catalog,
        editing=Editing(catalog, stores.features, stores.feature_writes, hub),
        changes=ChangeFeed(
            catalog,
            stores.feature_writes,
            hub,
            poll_seconds=settings.change_poll_seconds,
            keepalive_seconds=settings.change_keepalive_seconds,
        ),
        federation=federation,
        mounts=mounts,
        mount_changes=RemoteChanges(
            mounts,
            federation.inbox,
            federation.client,
            poll_seconds=settings.change_poll_seconds,
            keepalive_seconds=settings.change_keepalive_seconds,
            # a sender's keep-alives may come less often than ours: reconnecting is harmless
            idle_seconds=settings.peer_timeout + 2 * settings.change_keepalive_seconds,
            max_event_bytes=settings.max_remote_page_bytes,
        ),
        stores=stores,
    )
