"""OpenGeoMesh: share live map layers across organisations with OGC API – Features and OCM."""

__version__ = "0.1.0"
