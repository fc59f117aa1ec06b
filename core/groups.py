"""Similar-trip groups: same origin cell, same destination cell, same bucket of the time of day.

Medium and coarse groups without a date range come from the flow_counts summary; fine groups and
date ranges count the raw trips (one fine cell id is stored per trip end). Medium and coarse
groups with no other filter than one region and weekdays or weekend are read from the top groups
that compaction keeps (flow_top), as long as no job has completed since it ran; ``source`` says
which ("kept", "summary" or "trips"). The SQL is in sql/queries/groups.sql.
"""
from __future__ import annotations

from sqlalchemy import Engine

from . import grid
from .db import snapshot
from .errors import InvalidFilter
from .filters import Filters
from .queries import query

BUCKET_HOURS = (1, 2, 3, 4, 6, 24)
DEFAULT_LIMIT, MAX_LIMIT = 1000, 5000
KEPT_DAYS = {"all": 0, "weekdays": 1, "weekend": 2}  # flow_top.days (sql/06_flow_top.sql)
# For the groups query's transaction only: every group is hashed (about 1M medium groups, 170 MB,
# at 10M trips); with the server's 64 MB the hash table spilled to disk in batches (docs/SCALE.md).
_WORK_MEM = "256MB"


def trip_groups(eng: Engine, *, cell: str = "medium", bucket_hours: int = 1, limit: int = DEFAULT_LIMIT,
                **filters) -> dict:
    """The top ``limit`` groups by trips, with ``total_trips`` (trips matching the filters, the
    sum over all groups) and ``total_groups``. Filters: see :class:`core.filters.Filters`."""
    if cell not in grid.LEVELS:
        raise InvalidFilter(f"cell must be one of {', '.join(grid.LEVELS)}, not {str(cell)[:40]!r}")
    try:
        bucket_hours, limit = int(bucket_hours), int(limit)
    except (TypeError, ValueError):
        raise InvalidFilter("bucket hours and limit must be whole numbers") from None
    if bucket_hours not in BUCKET_HOURS:
        raise InvalidFilter(f"bucket hours must be one of {', '.join(map(str, BUCKET_HOURS))}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidFilter(f"limit must be between 1 and {MAX_LIMIT}")
    f = Filters.make(**filters)
    level = grid.LEVELS[cell]
    raw = level == 0 or f.date_from is not None or f.date_to is not None
    params = {**f.params(), "level": level, "bucket_hours": bucket_hours, "limit": limit}
    # Compaction keeps the answers with no filter but at most one region and weekdays or weekend.
    keepable = not raw and f.datasources is None and f.hours is None and len(f.regions or ()) <= 1
    with snapshot(eng) as c:
        source = "trips" if raw else "summary"
        if keepable and c.execute(query("groups_kept_are_current")).scalar():
            source = "kept"  # and no job has completed since it ran
            rows = c.execute(query("groups_kept"), {**params, "region": f.regions[0] if f.regions else None,
                                                    "days": KEPT_DAYS[f.days]}).all()
        else:
            if not raw:
                c.execute(query("groups_work_mem"), {"work_mem": _WORK_MEM})
            rows = c.execute(query("groups_from_trips" if raw else "groups_from_summary"), params).all()
    total = int(rows[0].total_trips) if rows else 0
    groups = []
    for r in rows:
        o, d, start = int(r.o_cell), int(r.d_cell), int(r.bucket) * bucket_hours
        groups.append({
            "origin_cell": grid.label(o, cell), "destination_cell": grid.label(d, cell),
            "origin": grid.centre(o, cell), "destination": grid.centre(d, cell),
            "bucket": f"{start:02d}:00-{start + bucket_hours:02d}:00", "bucket_start_hour": start,
            "trips": int(r.trips), "share": int(r.trips) / total if total else 0.0,
        })
    return {
        "cell": cell, "cell_size_deg": grid.SIZE_DEG[cell], "bucket_hours": bucket_hours,
        "source": source, "filters": _jsonable(f),
        "total_trips": total, "total_groups": int(rows[0].total_groups) if rows else 0,
        "groups": groups,
    }


def _jsonable(f: Filters) -> dict:
    p = f.params()
    return {"regions": p["regions"], "datasources": p["datasources"],
            "from": f.date_from.isoformat() if f.date_from else None,
            "to": f.date_to.isoformat() if f.date_to else None, "days": f.days, "hours": p["hours"]}
