"""A client generated from our served /api document by openapi-python-client, as a vendor in
another language would generate theirs: the generator lives in its own virtual environment
under ``tests/.cache`` (made once, kept between runs, also in CI); the client is generated
afresh from the document of a running server on every run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

VERSION = "0.29.1"
CACHE = Path(__file__).resolve().parents[1] / ".cache"
VENV = CACHE / "openapi-python-client-venv"
READY = VENV / f".installed-{VERSION}"
PACKAGE = "ogm_generated"
CONFIG = f"post_hooks: []\nproject_name_override: ogm-generated\npackage_name_override: {PACKAGE}\n"
# Our import takes newline-delimited GeoJSON too, a media type this generator does not model;
# it still generates the call for GeoJSON. Any other warning fails the test.
KNOWN_WARNING = "Unsupported content type application/x-ndjson"


def ensure_generator() -> Path:
    """The generator's Python, in the cached environment (pip from PyPI, once)."""
    python = VENV / "bin" / "python"
    if READY.exists() and python.exists():
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "-q", f"openapi-python-client=={VERSION}"],
        check=True,
        timeout=900,
    )
    READY.touch()
    return python


def generate(document: Path, target: Path) -> str:
    """Generate the client package from ``document`` into ``target``; the generator's output."""
    ensure_generator()
    config = target.parent / "generator.yaml"
    config.write_text(CONFIG)
    shutil.rmtree(target, ignore_errors=True)
    done = subprocess.run(
        [
            str(VENV / "bin" / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(target),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def run(script: str, package_parent: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with the generator's Python (which has httpx and attrs), the generated
    package importable."""
    return subprocess.run(
        [str(ensure_generator()), "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(package_parent)},
    )
