"""Worked example of docs/integration.md: a vendor's product mounts the layers other
organisations share with one of its users, told by webhooks.

It registers a webhook endpoint for the user through the OpenGeoMesh client library, receives
the deliveries with the standard library's HTTP server and checks each one's signature. On
``share.received`` it accepts the share if it comes from a server the product trusts, and
reads the layer page by page into the layer list a map product would read: ``layers.json``
with each layer's OGC API URL (the mount on your own server) and a GeoJSON copy of its
features. On ``share.revoked`` the layer leaves the list. At start it catches up with what
arrived while it was not running; when it stops, it removes its webhook endpoint.

    OGM_SERVER=https://maps.leitstelle.example OGM_TOKEN=… python examples/mount_shared_layers.py \\
        --accept-from maps.feuerwehr.example --listen 0.0.0.0:8800 \\
        --public-url https://hooks.leitstelle.example/ogm --out layers

Where the server cannot reach the product, ``--poll SECONDS`` asks the server instead.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opengeomesh.client import ApiError, Client, ClientError, NotFound, ReceivedShare, webhooks

EVENTS = ["share.received", "share.accepted", "share.revoked", "share.permission_changed"]
MAX_BODY = 1 << 20  # deliveries are small; refuse anything bigger unread


@dataclass
class Layers:
    """The product's layer list: ``layers.json`` and one GeoJSON file per layer in ``folder``."""

    folder: Path
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def load(self) -> Layers:
        listing = self.folder / "layers.json"
        if listing.exists():
            self.entries = json.loads(listing.read_text())
        return self

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "layers.json").write_text(json.dumps(self.entries, indent=2))

    def mount(self, client: Client, share: ReceivedShare) -> str:
        """Add an accepted share's layer: its features read page by page, and its entry."""
        features = list(client.iter_features(share.collection, limit=500))
        self.folder.mkdir(parents=True, exist_ok=True)
        copy = self.folder / f"{share.collection}.geojson"
        copy.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        self.entries[share.collection] = {
            "title": share.name,
            "from": share.sender_name or share.sender,
            "url": share.mount_url,
            "permission": share.permission,
            "features": len(features),
        }
        self.save()
        return f"mounted {share.name} as {share.collection} ({len(features)} features)"

    def drop(self, collection: str, why: str) -> list[str]:
        if collection not in self.entries:
            return []
        title = self.entries.pop(collection)["title"]
        (self.folder / f"{collection}.geojson").unlink(missing_ok=True)
        self.save()
        return [f"removed {title}: {why}"]


@dataclass
class Product:
    """What the product does with the user's shares received."""

    client: Client
    layers: Layers
    trusted: set[str]

    def consider(self, share: ReceivedShare) -> list[str]:
        """Accept a pending share from a trusted server; mount an accepted one."""
        done: list[str] = []
        if share.state == "pending":
            if share.sender.rsplit("@", 1)[-1] not in self.trusted:
                return [f"left {share.name} from {share.sender} pending: not a trusted server"]
            try:
                share = self.client.accept_share(share.id)
            except ApiError as exc:  # revoked meanwhile, or decided elsewhere
                return [f"could not accept {share.name}: {exc.detail}"]
            done.append(f"accepted {share.name} from {share.sender}")
        if share.state == "accepted" and share.collection not in self.layers.entries:
            done.append(self.layers.mount(self.client, share))
        return done

    def on_event(self, event: webhooks.Event) -> list[str]:
        """One webhook event (docs/webhooks.md) about a share this user received."""
        share = event.share
        if share is None or share.direction != "received":
            return []
        if event.type == "share.revoked":
            return self.layers.drop(share.collection, "the share was revoked")
        try:
            current = self.client.get_received_share(share.id)  # the state now, not then
        except NotFound:  # revoked since: its own event follows
            return []
        if event.type == "share.permission_changed" and share.collection in self.layers.entries:
            self.layers.entries[share.collection]["permission"] = current.permission
            self.layers.save()
            return [f"{current.name} is now {current.permission}"]
        if event.type in ("share.received", "share.accepted"):
            return self.consider(current)
        return []

    def catch_up(self) -> list[str]:
        """What came while nobody listened: shares to accept and mount, layers to drop."""
        done: list[str] = []
        received = self.client.list_received_shares()
        for share in received:
            done += self.consider(share)
        listed = {s.collection for s in received}  # a revoked share is no longer listed
        for gone in [c for c in self.layers.entries if c not in listed]:
            done += self.layers.drop(gone, "the share ended")
        return done


def receiver(secret: str, events: queue.Queue[webhooks.Event]) -> type[BaseHTTPRequestHandler]:
    """The HTTP handler of deliveries: check the signature, drop repeats, answer at once, and
    leave the work to the main loop (the server waits for the answer only ten seconds)."""
    seen: deque[str] = deque(maxlen=1000)

    class Deliveries(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self.answer(413)
            body = self.rfile.read(length)
            try:
                event = webhooks.verify(secret, self.headers, body)
            except webhooks.InvalidSignature as exc:
                print(f"refused a delivery: {exc}", flush=True)
                return self.answer(401)
            if event.message_id not in seen:
                seen.append(event.message_id)
                events.put(event)
            self.answer(204)

        def answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass  # quiet

    return Deliveries


def listen(product: Product, address: str, public_url: str | None, stop: threading.Event) -> None:
    """Receive webhooks until ``stop``: register the endpoint, catch up, handle events."""
    host, _, port = address.rpartition(":")
    events: queue.Queue[webhooks.Event] = queue.Queue()
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), BaseHTTPRequestHandler)
    bound_host, bound_port = server.server_address[:2]
    url = public_url or f"http://{bound_host!s}:{bound_port}/hook"
    try:
        hook = product.client.create_webhook(url, events=EVENTS)  # the port is bound: register
    except ClientError as exc:  # the server away, or a URL it may not call
        raise SystemExit(f"cannot register the webhook: {exc}") from None
    server.RequestHandlerClass = receiver(hook.secret, events)  # then serve, with the secret
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening at {url}: webhook {hook.id}", flush=True)
    behind = True  # first catch up with what came while nobody listened
    try:
        while not stop.is_set():
            try:
                if behind:
                    report(product.catch_up(), "catch-up")
                    behind = False
                event = events.get(timeout=0.2)
                report(product.on_event(event), event.type)
            except queue.Empty:
                continue
            except ClientError as exc:  # the server away for a moment: catch up when back
                print(f"failed: {exc}; catching up in a moment", flush=True)
                behind = True
                stop.wait(2)
    finally:
        server.shutdown()
        product.client.delete_webhook(hook.id)
        print(f"removed webhook {hook.id}", flush=True)


def report(lines: list[str], cause: str) -> None:
    for line in lines:
        print(f"{cause}: {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("OGM_SERVER"))
    parser.add_argument("--token", default=os.environ.get("OGM_TOKEN"))
    parser.add_argument("--accept-from", action="append", default=[], help="A sender's host")
    parser.add_argument("--out", type=Path, default=Path("layers"))
    parser.add_argument("--listen", default="127.0.0.1:8800", help="host:port for webhooks")
    parser.add_argument("--public-url", help="The URL the server POSTs to (default: --listen)")
    parser.add_argument("--poll", type=float, metavar="SECONDS", help="Ask, not be told")
    options = parser.parse_args()
    if not options.server or not options.token:
        parser.error("give --server and --token (or OGM_SERVER and OGM_TOKEN)")
    stop = threading.Event()
    for stopping in (signal.SIGINT, signal.SIGTERM):  # finish the event at hand, then stop
        signal.signal(stopping, lambda *_: stop.set())
    with Client(options.server, options.token) as client:
        product = Product(client, Layers(options.out).load(), set(options.accept_from))
        if options.poll is None:
            listen(product, options.listen, options.public_url, stop)
        while options.poll is not None and not stop.is_set():
            report(product.catch_up(), "poll")
            stop.wait(options.poll)


if __name__ == "__main__":
    main()
