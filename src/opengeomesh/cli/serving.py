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
import os
from collections.abc import Mapping
from typing import Any

from opengeomesh.app import create_app
from opengeomesh.config import Settings, environment_for
from opengeomesh.services import Services

APP_FACTORY = "opengeomesh.app:create_app_from_environment"
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
        uvicorn.run(create_app(settings, services), **options)
        return
    services.close()
    os.environ.update(environment_for(flags))
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        workers=settings.workers,
        log_config=log_config_with_pid(),
        **options,
    )


def log_config_with_pid() -> dict[str, Any]:
    """uvicorn's logging, with each line naming the process that wrote it (``[1234]``): with
    several workers, the operator can tell which one answered or failed."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    for formatter in config["formatters"].values():
        formatter["fmt"] = formatter["fmt"].replace(
            "%(levelprefix)s ", "%(levelprefix)s [%(process)d] ", 1
        )
    return config
