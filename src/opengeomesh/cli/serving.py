"""Running the server with uvicorn: in one process, or as several workers on one port.

Several workers need the app as an import string: uvicorn spawns each worker (a fresh
interpreter, so no database connection or thread is inherited) and calls
:func:`opengeomesh.app.create_app_from_environment` there, which reads the settings again.
What the command line set reaches the workers as ``OGM_*`` variables. The one-time start-up
work (data directory, migrations, signing keys, sample data) is done by the parent process,
before the workers start, so they never race to do it.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from opengeomesh.app import serving_app
from opengeomesh.config import Settings, environment_for
from opengeomesh.services import Services

APP_FACTORY = "opengeomesh.app:create_app_from_environment"
# query parameters that carry a secret (an invite link's token): never written to the log
SECRET_PARAMETERS = re.compile(r"([?&](?:token|code|access_token|secret)=)[^&\s]*", re.I)
SHUTDOWN_GRACE_SECONDS = 5  # what `serve` waits at shutdown for answers still being sent


def run(settings: Settings, flags: Mapping[str, Any], services: Services) -> None:
    """Serve until stopped. ``services`` were opened for the start-up work; with several
    workers each worker opens its own and the parent's are closed first."""
    import uvicorn

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": "httptools",
        "log_level": settings.log_level,
        "proxy_headers": True,
        # open change streams never finish by themselves: they are cut after this many
        # seconds of a shutdown, and their clients resume with Last-Event-ID
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
    }
    if settings.workers == 1:
        uvicorn.run(serving_app(settings, services), log_config=log_config(), **options)
        return
    services.close()
    os.environ.update(environment_for(flags))
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        workers=settings.workers,
        log_config=log_config(with_pid=True),
        **options,
    )


def log_config(*, with_pid: bool = False) -> dict[str, Any]:
    """uvicorn's logging with secrets in query strings masked in the access log; with
    ``with_pid`` each line names the process that wrote it (``[1234]``): with several
    workers, the operator can tell which one answered or failed."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    if with_pid:
        for formatter in config["formatters"].values():
            formatter["fmt"] = formatter["fmt"].replace(
                "%(levelprefix)s ", "%(levelprefix)s [%(process)d] ", 1
            )
    config.setdefault("filters", {})["secrets"] = {"()": f"{__name__}.MaskSecrets"}
    config["handlers"]["access"]["filters"] = ["secrets"]
    return config


class MaskSecrets(logging.Filter):
    """Masks the values of secret-carrying query parameters in uvicorn's access log lines
    (their arguments: client, method, path with query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_PARAMETERS.sub(r"\1***", a) if isinstance(a, str) and "=" in a else a
                for a in record.args
            )
        return True
