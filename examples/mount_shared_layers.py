"""Worked example of docs/integration.md: a vendor's product mounts the layers other
organisations share with one of its users.

It watches the user's shares received through the OpenGeoMesh client library, accepts those
from servers the product trusts, and keeps a small layer list that a map product would read:
each accepted layer's OGC API URL (on your own OpenGeoMesh server: the mount) and a GeoJSON
copy of its features, read page by page. Layers whose share was revoked leave the list.
This version asks the server every few seconds; webhooks (docs/webhooks.md) tell it at once.

    OGM_SERVER=https://maps.leitstelle.example OGM_TOKEN=… \\
        python examples/mount_shared_layers.py --accept-from maps.feuerwehr.example --out layers
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from opengeomesh.client import ApiError, Client, ReceivedShare


@dataclass
class Layers:
    """The product's layer list: ``layers.json`` and one GeoJSON file per layer in ``folder``."""

    folder: Path
    entries: dict[str, dict[str, object]] = field(default_factory=dict)

    def load(self) -> None:
        listing = self.folder / "layers.json"
        if listing.exists():
            self.entries = json.loads(listing.read_text())

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "layers.json").write_text(json.dumps(self.entries, indent=2))


def sender_host(share: ReceivedShare) -> str:
    return share.sender.rsplit("@", 1)[-1]


def sync_once(client: Client, layers: Layers, accept_from: set[str]) -> list[str]:
    """One pass: accept what trusted servers offer, copy accepted layers, drop revoked ones.
    Returns what it did, one line each."""
    done: list[str] = []
    current: set[str] = set()  # the collections of accepted shares, after this pass's accepts
    for share in client.list_received_shares():
        if share.state == "pending" and sender_host(share) in accept_from:
            try:
                share = client.accept_share(share.id)
            except ApiError as exc:  # revoked meanwhile, or decided elsewhere
                done.append(f"could not accept {share.name}: {exc.detail}")
                continue
            done.append(f"accepted {share.name} from {share.sender}")
        if share.state != "accepted":
            continue
        current.add(share.collection)
        if share.collection in layers.entries:
            continue
        features = list(client.iter_features(share.collection, limit=500))
        copy = layers.folder / f"{share.collection}.geojson"
        layers.folder.mkdir(parents=True, exist_ok=True)
        copy.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        layers.entries[share.collection] = {
            "title": share.name,
            "from": share.sender_name or share.sender,
            "url": share.mount_url,
            "permission": share.permission,
            "features": len(features),
        }
        done.append(f"mounted {share.name} as {share.collection} ({len(features)} features)")
    for gone in [c for c in layers.entries if c not in current]:
        title = layers.entries.pop(gone)["title"]
        (layers.folder / f"{gone}.geojson").unlink(missing_ok=True)
        done.append(f"removed {title}: the share ended")
    layers.save()
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("OGM_SERVER"))
    parser.add_argument("--token", default=os.environ.get("OGM_TOKEN"))
    parser.add_argument("--accept-from", action="append", default=[], help="A sender's host")
    parser.add_argument("--out", type=Path, default=Path("layers"))
    parser.add_argument("--every", type=float, default=5.0, help="Seconds between passes")
    parser.add_argument("--once", action="store_true", help="One pass, then stop")
    options = parser.parse_args()
    if not options.server or not options.token:
        parser.error("give --server and --token (or OGM_SERVER and OGM_TOKEN)")
    layers = Layers(options.out)
    layers.load()
    with Client(options.server, options.token) as client:
        while True:
            for line in sync_once(client, layers, set(options.accept_from)):
                print(line, flush=True)
            if options.once:
                return
            time.sleep(options.every)


if __name__ == "__main__":
    main()
