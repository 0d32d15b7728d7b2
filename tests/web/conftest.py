"""Fixtures of the browser tests: Debian's Chromium driven by Playwright (no browser download),
axe-core from npm for the accessibility check, screenshots under ``tests/artifacts/web``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from opengeomesh import samples
from tests.conftest import stop_server
from tests.e2e.orgs import Org, make_org

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BUNDLE = ROOT / "src" / "opengeomesh" / "web" / "static" / "dist" / "workspace.js"
ARTIFACTS = ROOT / "tests" / "artifacts" / "web"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FAST_OUTBOX = "delivery_retry_seconds = 0.3\noutbox_interval = 0.2\npeer_timeout = 3\n"


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for a test module (Debian's, installed by .ci/run). Not for the
    session: Playwright's sync API runs an event loop in the main thread while it is open, and
    later tests of the same process (make test spreads files over processes) run their own."""
    if not CHROMIUM.exists():
        _missing("no /usr/bin/chromium: apt-get install chromium (.ci/run does)")
    if not BUNDLE.exists() or not AXE.exists():
        _missing("the web assets are not built: run make assets (make test does)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Person:
    """Someone at a server, in a browser context of their own."""

    name: str
    org: Org
    page: Any
    shots: Path

    def go(self, path: str) -> None:
        self.page.goto(self.org.url + path)

    def sign_in(self) -> None:
        secret = self.org.cli("token", "create", self.name).stdout.strip()
        self.page.context.clear_cookies()
        self.go("/web/sign-in")
        self.page.fill("#token", secret)
        self.page.click("form button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/web/layers$"))

    def wait_for_map(self) -> None:
        self.page.wait_for_function("document.body.dataset.loaded !== undefined")

    def reload_map(self) -> None:
        self.page.evaluate("delete document.body.dataset.loaded")
        self.page.reload()
        self.wait_for_map()

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def axe(self) -> list[dict[str, Any]]:
        """Serious and critical axe-core violations of the page as it is now."""
        self.page.add_script_tag(path=str(AXE))
        found: list[dict[str, Any]] = self.page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
        )
        return found


@pytest.fixture(scope="module")
def web_orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, Org]]:
    """A fire brigade (alice, an operator, with the layer 'vehicles') and a control room (bob),
    who have not met yet."""
    base = tmp_path_factory.mktemp("web")
    a = make_org(base, "a", "Feuerwehr Musterstadt", config=FAST_OUTBOX)
    b = make_org(base, "b", "Leitstelle Nord", config=FAST_OUTBOX)
    try:
        a.cli("user", "add", "alice", "--display-name", "Alice Adler", "--admin")
        b.cli("user", "add", "bob", "--display-name", "Bob Berg")
        source = a.data.parent / "vehicles.geojson"
        source.write_bytes(orjson.dumps(samples.vehicles()))
        a.cli(
            "collection",
            "import",
            "vehicles",
            str(source),
            "--create",
            "--user",
            "alice",
            "--title",
            "Vehicles",
        )
        yield a, b
    finally:
        for org in (a, b):
            if org.server is not None and org.server.process.poll() is None:
                stop_server(org.server)


def person(
    chromium: Any, name: str, org: Org, label: str, *, enforce_csp: bool = False
) -> Iterator[Person]:
    """A browser context; the Content Security Policy is bypassed (axe-core is injected) unless
    ``enforce_csp``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, bypass_csp=not enforce_csp
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield Person(name=name, org=org, page=page, shots=ARTIFACTS)
    context.close()
    assert not errors, f"script errors in {label}'s browser: {errors}"


@pytest.fixture(scope="module")
def alice(chromium: Any, web_orgs: tuple[Org, Org]) -> Iterator[Person]:
    yield from person(chromium, "alice", web_orgs[0], "Alice")


@pytest.fixture(scope="module")
def bob(chromium: Any, web_orgs: tuple[Org, Org]) -> Iterator[Person]:
    yield from person(chromium, "bob", web_orgs[1], "Bob")
