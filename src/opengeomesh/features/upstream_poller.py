"""The change feed of exposed collections: upstream servers cannot tell us what changed, so a
background thread of the server reads each exposed collection's items at an interval
(``upstream_poll_seconds``), compares them with the last poll's snapshot (feature id → SHA-256
of the feature's GeoJSON) and records the differences as changes (``record_poll``), which
followers of the change feed then get like any write.

- The first poll of a collection only takes the snapshot: what was upstream before it was
  exposed is not news, and a flood of creates would help nobody.
- A collection of more than ``upstream_poll_max_features`` features is not polled (a warning
  in the log each round); upstream errors are logged and the collection is tried again next
  round. Nothing here ends the thread.
- One process of all polls (several workers, several hosts on one PostgreSQL): a lease in the
  database (``leases``), renewed after every page; a change is recorded only while the lease is
  held, in the same transaction, so no change is recorded twice."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from opengeomesh.errors import OpenGeoMeshError
from opengeomesh.features.encoding import feature_bytes
from opengeomesh.features.upstream import TooManyFeatures, UpstreamFeatures
from opengeomesh.features.upstreams import (
    Exposure,
    Lease,
    LeaseLost,
    PolledChange,
    UpstreamStore,
)
from opengeomesh.ocm.client import PeerUnavailable

log = logging.getLogger("opengeomesh.upstream_poller")

LEASE_NAME = "upstream-poller"
MIN_LEASE = 60.0  # seconds; a process that died leaves the polling to another after this


def holder_name() -> str:
    """This process, as a lease holder: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class UpstreamPoller:
    """Reads exposed collections upstream and publishes their differences as changes."""

    def __init__(
        self,
        store: UpstreamStore,
        features: UpstreamFeatures,
        wake: Callable[[int], None],
        *,
        interval: float,
        max_features: int,
        page_size: int = 1000,
        holder: str | None = None,
    ) -> None:
        self._store = store
        self._features = features
        self._wake = wake
        self._interval = interval
        self._max = max_features
        self._page_size = page_size
        self._lease = Lease(LEASE_NAME, holder or holder_name())
        self._lease_seconds = max(MIN_LEASE, 4 * interval)
        self._claimed = False  # whether this process ever held the lease (else: nothing to release)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ogm-upstream-poller", daemon=True)

    @property
    def lease(self) -> Lease:
        return self._lease

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if not self._claimed:
            return
        try:
            self._store.release_lease(self._lease)
        except Exception:  # the database may be gone at shutdown; the lease runs out anyway
            log.warning("the upstream poller's lease was not released", exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_round()
            except Exception:  # the database may be busy; try again next round
                log.exception("the upstream poll round failed")
            self._stop.wait(self._interval)

    def _claim(self) -> bool:
        held = self._store.claim_lease(self._lease, time.time(), self._lease_seconds)
        self._claimed = self._claimed or held
        return held

    def poll_round(self) -> bool:
        """One round over every exposed collection, if this process holds the lease."""
        exposures = self._store.exposures()
        if not exposures or not self._claim():  # nothing to poll: no write either
            return False
        for exposure in exposures:
            if self._stop.is_set() or not self._claim():
                break
            self.poll(exposure)
        return True

    def poll(self, exposure: Exposure) -> int:
        """Poll one collection: the number of changes recorded (0 for a first poll, an error,
        or a skipped collection). Errors are logged, never raised."""
        name = exposure.upstream.name
        try:
            first = not self._store.polled(exposure.collection_key)
            before = {} if first else self._store.snapshot(exposure.collection_key)
            hashes, texts = self._read(exposure, None if first else before)
            if first:
                self._store.take_snapshot(exposure.collection_key, hashes, self._lease)
                log.info(
                    "upstream %r: first snapshot of %r, %d features",
                    name,
                    exposure.collection_id,
                    len(hashes),
                )
                return 0
            changes = differences(before, hashes, texts)
            if changes:
                self._store.record_poll(
                    exposure.collection_key, changes, f"upstream {name}", self._lease
                )
                self._wake(exposure.collection_key)
            return len(changes)
        except TooManyFeatures as exc:
            log.warning("%s: not polled (upstream_poll_max_features)", exc)
        except LeaseLost:
            log.warning("upstream %r: the poll lease ran out; not recorded", name)
        except PeerUnavailable as exc:  # also PeerTimeout
            log.warning("upstream %r: %r not polled: %s", name, exposure.collection_id, exc.detail)
        except OpenGeoMeshError as exc:
            log.warning("upstream %r: %r not polled: %s", name, exposure.collection_id, exc.detail)
        except Exception:
            log.exception("upstream %r: polling %r failed", name, exposure.collection_id)
        return 0

    def _read(
        self, exposure: Exposure, before: dict[str, str] | None
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Feature id → hash of the collection upstream now, and the GeoJSON text of those
        that differ from ``before`` (none on a first poll)."""
        hashes: dict[str, str] = {}
        texts: dict[str, str] = {}
        renew = self._renew
        for feature in self._features.walk(
            exposure, page_size=self._page_size, max_features=self._max, after_page=renew
        ):
            text = feature_bytes(feature)
            digest = hashlib.sha256(text).hexdigest()
            hashes[feature.id] = digest
            if before is not None and before.get(feature.id) != digest:
                texts[feature.id] = text.decode()
        return hashes, texts

    def _renew(self) -> None:
        if not self._claim():
            raise LeaseLost


def differences(
    before: dict[str, str], now: dict[str, str], texts: dict[str, str]
) -> list[PolledChange]:
    """Creates and updates in the upstream's order, then deletes (in id order)."""
    changes: list[PolledChange] = []
    for fid, digest in now.items():
        old = before.get(fid)
        if old != digest:
            changes.append(
                PolledChange(fid, "create" if old is None else "update", texts[fid], digest)
            )
    changes += [PolledChange(fid, "delete", None, None) for fid in sorted(before.keys() - now)]
    return changes
