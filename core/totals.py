"""Totals: what is stored, by region, datasource and hour (all from summaries)."""
from __future__ import annotations

from sqlalchemy import Engine

from . import grid
from .db import snapshot
from .queries import query


def _iso(v):
    return v.isoformat(sep=" ") if v is not None else None


def stats(eng: Engine) -> dict:
    """Trips stored, regions, datasources, first and last datetime (local time)."""
    with snapshot(eng) as c:
        t = c.execute(query("stats_totals")).mappings().one()
        regions = [dict(r) for r in c.execute(query("region_totals")).mappings()]
        sources = [dict(r) for r in c.execute(query("datasource_totals")).mappings()]
    return {
        "trips": int(t["trips"]),
        "regions": [r["region"] for r in regions],
        "datasources": [d["datasource"] for d in sources],
        "first_datetime": _iso(t["first_datetime"]),
        "last_datetime": _iso(t["last_datetime"]),
        "by_region": [{"region": r["region"], "trips": int(r["trips"]),
                       "first_datetime": _iso(r["first_datetime"]),
                       "last_datetime": _iso(r["last_datetime"])} for r in regions],
        "by_datasource": [{"datasource": d["datasource"], "trips": int(d["trips"])} for d in sources],
    }


def hour_totals(eng: Engine) -> list[dict]:
    with snapshot(eng) as c:
        return [{"hour": int(r.hour), "trips": int(r.trips)} for r in c.execute(query("hour_totals"))]


def region_extents(eng: Engine) -> dict[str, tuple[float, float, float, float]]:
    """Each region's extent as (west, south, east, north) in degrees, to medium-cell precision."""
    size = grid.SIZE_DEG["medium"]
    out = {}
    with snapshot(eng) as c:
        for r in c.execute(query("region_extents")):
            # (rows loaded before Dec 4 may have a cell past the grid's east or north edge)
            out[r.region] = (round(r.ix0 * size - 180, 4), round(r.iy0 * size - 90, 4),
                             min(round((r.ix1 + 1) * size - 180, 4), 180.0), min(round((r.iy1 + 1) * size - 90, 4), 90.0))
    return out


ORIGIN_CELLS_MOST = 8_000  # the maps' underlay: about 70 bytes of the page's map each


def origin_cells(eng: Engine, most: int = ORIGIN_CELLS_MOST) -> list[dict]:
    """Trips by the cell of their origin, of every date and filter: each cell's ``level``
    (``medium``, or ``coarse`` when there are more than ``most`` medium cells), ``bounds`` (west,
    south, east, north in degrees) and ``trips``, busiest first; at most ``most`` cells."""
    levels = {lvl: name for name, lvl in grid.LEVELS.items()}
    with snapshot(eng) as c:
        return [{"level": levels[r.level],
                 "bounds": tuple(round(v, 4) for v in grid.bounds(grid.join(r.cx, r.cy), levels[r.level])),
                 "trips": int(r.trips)} for r in c.execute(query("origin_cells"), {"most": most})]
