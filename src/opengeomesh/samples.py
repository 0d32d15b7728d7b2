"""Sample situation-map layers for ``serve --sample`` and tests: fire hydrants and incident
sectors around a fictional town. Generated from a fixed seed, so every run gives the same data."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

TOWN = (9.935, 51.534)  # a fictional "Musterstadt"; lon, lat
HYDRANT_KINDS = ("underground", "pillar", "wall")


def hydrants(count: int = 500, seed: int = 112) -> dict[str, Any]:
    """Point features: hydrants with kind, diameter and flow rate."""
    rng = random.Random(seed)
    features = []
    for n in range(1, count + 1):
        lon = TOWN[0] + rng.uniform(-0.06, 0.06)
        lat = TOWN[1] + rng.uniform(-0.04, 0.04)
        features.append(
            {
                "type": "Feature",
                "id": n,
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                "properties": {
                    "kind": rng.choice(HYDRANT_KINDS),
                    "diameter_mm": rng.choice((80, 100, 150)),
                    "flow_l_min": rng.randrange(400, 3200, 100),
                    "checked": f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}",
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def incident_sectors(seed: int = 19) -> dict[str, Any]:
    """Polygon features: sectors of an incident, each with its leader and the time it was set up."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    features = []
    for n, name in enumerate(("North", "East", "South", "West", "Staging area"), start=1):
        cx = TOWN[0] + rng.uniform(-0.03, 0.03)
        cy = TOWN[1] + rng.uniform(-0.02, 0.02)
        w, h = rng.uniform(0.004, 0.01), rng.uniform(0.003, 0.008)
        ring = [[cx - w, cy - h], [cx + w, cy - h], [cx + w, cy + h], [cx - w, cy + h]]
        ring = [[round(x, 6), round(y, 6)] for x, y in ring]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "id": f"sector-{n}",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "name": name,
                    "leader": f"Section leader {n}",
                    "established": (start + timedelta(minutes=17 * n))
                    .isoformat()
                    .replace("+00:00", "Z"),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def vehicles(count: int = 12, seed: int = 7) -> dict[str, Any]:
    """Point features: emergency vehicles with call sign, kind, status and last position time."""
    rng = random.Random(seed)
    kinds = ("fire engine", "turntable ladder", "tanker", "ambulance", "command vehicle")
    statuses = ("available", "on the way", "on scene", "returning")
    start = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    features = []
    for n in range(1, count + 1):
        kind = kinds[(n - 1) % len(kinds)]
        lon = TOWN[0] + rng.uniform(-0.05, 0.05)
        lat = TOWN[1] + rng.uniform(-0.03, 0.03)
        features.append(
            {
                "type": "Feature",
                "id": f"vehicle-{n}",
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                "properties": {
                    "callsign": f"Florian Musterstadt {n:02d}/{40 + n}",
                    "kind": kind,
                    "status": rng.choice(statuses),
                    "updated": (start + timedelta(minutes=rng.randint(0, 240)))
                    .isoformat()
                    .replace("+00:00", "Z"),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
