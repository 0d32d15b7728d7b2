"""What both databases store of a new feature beyond its JSON: its id (made up when it has
none), its time span, and the running extent of its collection."""

from __future__ import annotations

import uuid
from typing import Any

from opengeomesh.features.models import NewFeature


def assigned_id(feature: NewFeature) -> str:
    """The feature's id, or a new random one for a feature without an id."""
    return feature.id if feature.id is not None else uuid.uuid4().hex


def time_end(feature: NewFeature) -> float | None:
    """Where the feature's time ends (an instant ends where it starts)."""
    return feature.t1 if feature.t1 is not None else feature.t0


class Extent:
    """The running spatial and temporal extent of a collection during a write."""

    def __init__(self) -> None:
        self.box: list[float] | None = None
        self.times: list[float] | None = None

    def load(self, stored: list[Any] | tuple[Any, ...]) -> None:
        """Start from the extent stored with the collection (minx, miny, maxx, maxy, t_min,
        t_max; all None when empty)."""
        minx, miny, maxx, maxy, t_min, t_max = stored
        if minx is not None:
            self.box = [minx, miny, maxx, maxy]
        if t_min is not None:
            self.times = [t_min, t_max]

    def add(self, feature: NewFeature) -> None:
        if feature.bbox is not None:
            minx, miny, maxx, maxy = feature.bbox
            if self.box is None:
                self.box = [minx, miny, maxx, maxy]
            else:
                box = self.box
                box[0], box[1] = min(box[0], minx), min(box[1], miny)
                box[2], box[3] = max(box[2], maxx), max(box[3], maxy)
        if feature.t0 is not None:
            t1 = time_end(feature)
            assert t1 is not None
            if self.times is None:
                self.times = [feature.t0, t1]
            else:
                self.times = [min(self.times[0], feature.t0), max(self.times[1], t1)]

    def values(self) -> tuple[float | None, ...]:
        """minx, miny, maxx, maxy, t_min, t_max as the collection stores them."""
        box: list[float | None] = [None] * 4 if self.box is None else list(self.box)
        times: list[float | None] = [None] * 2 if self.times is None else list(self.times)
        return (*box, *times)
