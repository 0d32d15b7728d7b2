# OpenGeoMesh server: the README's install steps in python:3.11-slim.
# Not built or run by this project's tests (no Docker there): see docs/operator.md, "Containers".
# The web workspace's browser assets (README: `make assets`): OpenLayers bundled by esbuild.
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY src/opengeomesh/web/client src/opengeomesh/web/client
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# README, "Running a server": the assets built, a virtual environment, `pip install .`.
COPY pyproject.toml README.md /tmp/opengeomesh/
COPY src /tmp/opengeomesh/src
COPY --from=assets /build/src/opengeomesh/web/static/dist /tmp/opengeomesh/src/opengeomesh/web/static/dist
RUN python3 -m venv /opt/opengeomesh \
    && /opt/opengeomesh/bin/pip install /tmp/opengeomesh \
    && rm -rf /tmp/opengeomesh

# A non-root user owns the data directory (database, keys); the volume keeps it.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/opengeomesh ogm \
    && mkdir -p /var/lib/opengeomesh/data \
    && chown -R ogm:ogm /var/lib/opengeomesh \
    && chmod 0700 /var/lib/opengeomesh/data
VOLUME /var/lib/opengeomesh/data

ENV PATH=/opt/opengeomesh/bin:$PATH \
    OGM_DATA_DIR=/var/lib/opengeomesh/data \
    OGM_PORT=8080
USER ogm
WORKDIR /var/lib/opengeomesh
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/conformance' % os.environ.get('OGM_PORT', '8080'), timeout=4)"]

# Settings come from OGM_* variables (OGM_PUBLIC_URL, OGM_WORKERS, OGM_DATABASE_URL, ...) or
# DATA_DIR/config.toml; see docs/operator.md.
CMD ["opengeomesh", "serve", "--host", "0.0.0.0"]
