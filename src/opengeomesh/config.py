"""Settings: one typed, frozen object, built by :func:`load_settings`.

Sources, lowest first: defaults < ``DATA_DIR/config.toml`` < ``OGM_*`` environment < CLI flags.
Nothing here reads the environment at import time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from opengeomesh.errors import InvalidInput

ENV_PREFIX = "OGM_"
CONFIG_FILE = "config.toml"
DEFAULT_DATA_DIR = Path("data")
DATABASE_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


class Settings(BaseModel):
    """Everything an OpenGeoMesh server is configured with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Directory for the database and keys")
    database_url: SecretStr | None = Field(
        None,
        description="sqlite:///PATH (default: DATA_DIR/opengeomesh.sqlite) or"
        " postgresql://USER:PASSWORD@HOST:PORT/DATABASE (PostGIS)",
    )
    database_pool_size: int = Field(
        10, ge=1, le=1000, description="PostgreSQL connections per process at most"
    )
    host: str = Field("127.0.0.1", description="Address to listen on")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on")
    public_url: str | None = Field(
        None, description="Base URL clients use to reach this server (default: from the request)"
    )
    title: str = Field("OpenGeoMesh", description="Title of the landing page")
    organisation: str = Field("OpenGeoMesh server", description="Organisation running the server")
    default_limit: int = Field(100, ge=1, description="Items per page when no limit is given")
    max_limit: int = Field(10_000, ge=1, description="Largest page; larger limits are clamped")
    count_limit: int = Field(
        100_000, ge=0, description="numberMatched is omitted when a filter matches more features"
    )
    max_import_bytes: int = Field(
        1 << 30, ge=1, description="Largest import body accepted over HTTP"
    )
    threads: int = Field(
        8, ge=1, le=256, description="Worker threads per process for database work"
    )
    workers: int = Field(
        1, ge=1, le=64, description="Server processes answering on the one port (serve only)"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        "info", description="uvicorn log level"
    )
    trust_mode: Literal["open", "allowlist", "invite-only"] = Field(
        "invite-only", description="Which servers to deal with (see docs/federation.md)"
    )
    allow_private_peers: bool = Field(
        False, description="Development only: let peers be on loopback/private addresses, HTTP"
    )
    accept_unsigned: bool = Field(
        False, description="Accept unsigned OCM requests from peers that do not sign at all"
    )
    invite_days: float = Field(7, gt=0, description="Days an invite stays valid")
    key_grace_days: float = Field(
        7, ge=0, description="Days a rotated-out signing key stays published"
    )
    discovery_ttl: float = Field(300, ge=0, description="Seconds a peer's discovery is cached")
    signature_window: float = Field(
        300, gt=0, description="Seconds a signature's created time may lie in the past"
    )
    peer_timeout: float = Field(10, gt=0, description="Seconds to wait for another server")
    max_peer_response_bytes: int = Field(
        1 << 20, ge=1024, description="Largest answer read from another server"
    )
    max_ocm_body_bytes: int = Field(65536, ge=1024, description="Largest OCM request body")
    share_token_minutes: float = Field(
        10, gt=0, le=1440, description="Minutes an access token of a share stays valid"
    )
    delivery_retry_seconds: float = Field(
        5, gt=0, description="First wait before sending a share or notification again"
    )
    outbox_interval: float = Field(
        2, gt=0, description="Seconds between two looks into the outbox (server only)"
    )
    outbox_max_attempts: int = Field(
        40,
        ge=1,
        description="Attempts to send a share or notification before the outbox gives up on it"
        " (kept as failed, shown, and sent again by hand)",
    )
    max_feature_bytes: int = Field(
        4 << 20, ge=1024, description="Largest feature a client may write in one request"
    )
    change_poll_seconds: float = Field(
        2,
        gt=0,
        le=3600,
        description="Seconds a change-feed stream waits before it reads again"
        " when no write of this process woke it (writes of other processes arrive so)",
    )
    change_keepalive_seconds: float = Field(
        15,
        gt=0,
        le=3600,
        description="Seconds of silence after which a change-feed stream"
        " sends a keep-alive comment (and checks the caller's access again)",
    )
    upstream_poll_seconds: float = Field(
        30,
        gt=0,
        le=86400,
        description="Seconds between two polls of the exposed collections' upstream items"
        " for their change feed (server only)",
    )
    upstream_poll_max_features: int = Field(
        100_000,
        ge=1,
        description="Exposed collections with more features upstream are not polled"
        " (no change feed; a warning in the log)",
    )
    max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        description="Largest request body of any other request (imports, features and OCM"
        " requests have their own limits)",
    )
    page_cache_mib: int = Field(
        32,
        ge=0,
        description="Memory for answers to repeated reads of local layers, kept until the"
        " database changes (SQLite only); 0: none",
    )
    page_cache_mounts: bool = Field(
        False,
        description="Keep answers of mounted layers too, while following their senders' change"
        " feeds: reads through a mount cost about what local reads cost, but an edit or a"
        " revocation at the sender reaches readers here only within the feed's latency",
    )
    rate_limit_per_minute_token: int = Field(
        6000,
        ge=0,
        description="Requests a minute one bearer token (personal or a share's access token)"
        " may make; 0: no limit",
    )
    rate_limit_per_minute_peer: int = Field(
        600,
        ge=0,
        description="OCM requests a minute one peer server (its verified host; an unsigned or"
        " refused sender: its address) may make; 0: no limit",
    )
    max_remote_page_bytes: int = Field(
        64 << 20, ge=1 << 16, description="Largest page read from a mounted remote layer"
    )

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(DATABASE_SCHEMES):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @property
    def base_url(self) -> str:
        """The URL other servers and links use: ``public_url``, else host and port."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def database_kind(self) -> Literal["sqlite", "postgresql"]:
        """Which database the server stores everything in."""
        if self.database_url is None or self.database_url.get_secret_value().startswith("sqlite"):
            return "sqlite"
        return "postgresql"

    @property
    def postgres_url(self) -> str:
        """The PostgreSQL connection URL (``postgres://`` spelled ``postgresql://``)."""
        assert self.database_url is not None and self.database_kind == "postgresql"
        return "postgresql://" + self.database_url.get_secret_value().split("://", 1)[1]

    @property
    def sqlite_path(self) -> Path:
        """The SQLite database file this server uses."""
        if self.database_url is None:
            return self.data_dir / "opengeomesh.sqlite"
        return Path(self.database_url.get_secret_value().removeprefix("sqlite:///"))

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain values, with secrets masked, for ``config check``."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = _mask_url(value.get_secret_value())
            elif isinstance(value, Path):
                value = str(value)
            shown[name] = value
        return shown


def _mask_url(url: str) -> str:
    """Hide a password in a database URL, keep the rest readable."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from defaults, ``config.toml``, ``OGM_*`` variables and flags.

    ``flags`` holds only the options the operator gave (``None`` values are ignored); the data
    directory is found first, from the same sources, since ``config.toml`` lives in it.
    """
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    env_values = _from_environment(os.environ if environ is None else environ)
    data_dir = Path(given.get("data_dir") or env_values.get("data_dir") or DEFAULT_DATA_DIR)
    merged: dict[str, Any] = {"data_dir": data_dir}
    merged.update(_from_file(data_dir / CONFIG_FILE))
    merged.update(env_values)
    merged.update(given)
    merged["data_dir"] = data_dir
    try:
        return Settings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise InvalidInput(field, first["msg"]) from exc


def environment_for(flags: Mapping[str, Any]) -> dict[str, str]:
    """The ``OGM_*`` variables that carry ``flags`` (options given on the command line) to
    another process, which reads them back with :func:`load_settings`. Flags beat the
    environment and the environment beats ``config.toml``, so that process gets the same
    settings."""
    known = set(Settings.model_fields)
    variables: dict[str, str] = {}
    for name, value in flags.items():
        if value is None:
            continue
        if name not in known:
            raise ValueError(f"no setting {name!r}")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, SecretStr):
            text = value.get_secret_value()
        else:
            text = str(value)
        variables[ENV_PREFIX + name.upper()] = text
    return variables


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    known = set(Settings.model_fields)
    values: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in known:
                values[name] = value
            elif name == "data":
                values["data_dir"] = value
    return values


def _from_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(str(path), f"not valid TOML: {exc}") from exc
    if "data_dir" in values:
        raise InvalidInput(str(path), "data_dir cannot be set in the data directory's own file")
    unknown = set(values) - set(Settings.model_fields)
    if unknown:
        raise InvalidInput(str(path), f"unknown setting(s): {', '.join(sorted(unknown))}")
    return values
