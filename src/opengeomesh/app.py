"""``create_app(settings)``: the one place that wires settings, stores, services and routes;
``serving_app`` puts the page cache in front of it, as servers run it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from opengeomesh import __version__
from opengeomesh.api.body_limits import BodyLimits
from opengeomesh.api.page_cache import PageCache
from opengeomesh.api.problems import install_problem_handlers
from opengeomesh.api.routes import install_routes
from opengeomesh.api.vary import VaryOnAccept
from opengeomesh.config import Settings, load_settings
from opengeomesh.errors import OpenGeoMeshError
from opengeomesh.features.upstream_poller import UpstreamPoller
from opengeomesh.ocm.outbox import Courier
from opengeomesh.services import Services, open_services

log = logging.getLogger("opengeomesh")


def create_app_from_environment() -> ASGIApp:
    """The app of one of several workers (uvicorn's ``factory``, called in each worker
    process): the settings are read again from ``config.toml`` and the ``OGM_*`` variables,
    which carry what the command line set. The parent did the one-time start-up work (data
    directory, migrations, keys), so the database is only checked here."""
    try:
        settings = load_settings()
        services = open_services(settings, prepared=True)
    except (OpenGeoMeshError, OSError) as exc:
        # uvicorn's exit status for "cannot start" (STARTUP_FAILURE): its supervisor stops
        # instead of starting this worker again and again
        from uvicorn.config import STARTUP_FAILURE

        detail = exc.detail if isinstance(exc, OpenGeoMeshError) else str(exc)
        log.error("OpenGeoMesh worker cannot start: %s", detail)
        raise SystemExit(STARTUP_FAILURE) from None
    return serving_app(settings, services)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the ASGI app for ``settings``; the database is opened and migrated here."""
    services = services or open_services(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Few threads serve more: past a handful, threads only contend for the GIL, and each
        # holds its own SQLite connection and page cache.
        to_thread.current_default_thread_limiter().total_tokens = settings.threads
        courier = Courier(
            services.federation.outbox,
            settings.outbox_interval,
            more=[services.webhooks.sender.deliver_due],
        )
        services.federation.outbox.on_waiting = courier.wake
        courier.start()
        poller = UpstreamPoller(
            services.stores.upstreams,
            services.upstream_features,
            services.hub.wake,
            interval=settings.upstream_poll_seconds,
            max_features=settings.upstream_poll_max_features,
        )
        poller.start()
        services.limiter.start()
        yield
        await services.mount_watch.close()
        services.limiter.stop()
        poller.stop()
        courier.stop()
        services.close()

    app = FastAPI(
        title=settings.title,
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.api_documents = {}
    install_problem_handlers(app)
    install_routes(app)
    static = resources.files("opengeomesh.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.add_middleware(VaryOnAccept)
    app.add_middleware(BodyLimits, settings=settings)
    # Browser map clients on other origins read and edit layers with a bearer token, never
    # cookies.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Accept",
            "Content-Type",
            "Content-Crs",
            "If-Match",
            "If-None-Match",
            "Last-Event-ID",
        ],
        expose_headers=["ETag", "Location", "Content-Crs"],
    )
    return app


def serving_app(settings: Settings, services: Services | None = None) -> ASGIApp:
    """The app as ``serve`` runs it: :func:`create_app`'s behind the page cache, when the
    settings and the database allow one. In front of the framework itself, so an answer from
    memory costs neither its routing nor its middlewares; a kept answer carries the headers
    they added when it was made."""
    services = services or open_services(settings)
    app = create_app(settings, services)
    version = services.stores.database.data_version
    if not settings.page_cache_mib or version() is None:
        return app
    return PageCache(
        app,
        services=services,
        data_version=version,
        max_bytes=settings.page_cache_mib << 20,
        mounts=services.mount_watch if settings.page_cache_mounts else None,
    )
