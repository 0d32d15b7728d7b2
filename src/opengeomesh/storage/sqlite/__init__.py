"""The embedded store: stdlib ``sqlite3`` in WAL mode, an R*Tree per collection, shapely tests."""
