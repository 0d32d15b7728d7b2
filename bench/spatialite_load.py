"""Load newline-delimited GeoJSON points into a SpatiaLite table for pygeoapi's SQLite
provider. Run by the Python of pygeoapi's virtual environment (Debian's, whose ``sqlite3``
can load extensions): ``python spatialite_load.py SOURCE DATABASE TABLE``.
"""

from __future__ import annotations

import json
import sqlite3
import sys


def main(source: str, database: str, table: str) -> None:
    conn = sqlite3.connect(database)
    conn.enable_load_extension(True)
    conn.execute("SELECT load_extension('mod_spatialite.so')")
    if (
        conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'geometry_columns'"
        ).fetchone()[0]
        == 0
    ):
        conn.execute("SELECT InitSpatialMetadata(1)")
    conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT, kind TEXT, value REAL)")
    conn.execute(f"SELECT AddGeometryColumn('{table}', 'geom', 4326, 'POINT', 'XY')")
    insert = f"INSERT INTO {table} VALUES (?, ?, ?, ?, MakePoint(?, ?, 4326))"
    rows = []
    with open(source, "rb") as lines:
        for line in lines:
            f = json.loads(line)
            p = f["properties"]
            x, y = f["geometry"]["coordinates"]
            rows.append((f["id"], p["name"], p["kind"], p["value"], x, y))
            if len(rows) == 20_000:
                conn.executemany(insert, rows)
                rows = []
    conn.executemany(insert, rows)
    conn.execute(f"SELECT CreateSpatialIndex('{table}', 'geom')")
    conn.commit()
    conn.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
