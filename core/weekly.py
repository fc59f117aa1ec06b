"""Weekly average number of trips for an area: a region, or a bounding box (edges included).

The period is ``date_from`` to ``date_to`` (inclusive; by default the first to the last trip in
the database). Its weeks are the ISO weeks (Monday to Sunday) that touch it; the average is the
area's trips in the period divided by that number of weeks, weeks without trips counting as zero.

A region is summed from daily_counts. A box is exact without scanning the whole table: medium
cells lying well inside it come whole from area_days; trips in the cells along its edges are
counted from the raw rows, by their stored fine cell (indexed) and their exact coordinates.
With ``by="either"`` a trip counts once if either end is in the box, so every candidate cell is
counted from the raw rows. The SQL is in sql/queries/weekly.sql.
"""
from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import Engine

from . import grid
from .errors import InvalidFilter
from .filters import _date
from .queries import query

BY = ("origin", "destination", "either")
_MEDIUM = grid.SIZE_DEG["medium"]
_PER_MEDIUM = 4  # fine cells per medium cell, each way


def parse_bbox(value) -> tuple[float, float, float, float]:
    """``west,south,east,north`` (a string or four numbers) in degrees, checked."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        w, s, e, n = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise InvalidFilter("a bounding box is four numbers: west,south,east,north") from None
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise InvalidFilter("bounding box values must be finite numbers")
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise InvalidFilter("bounding box must have -180 <= west <= east <= 180 and -90 <= south <= north <= 90")
    return w, s, e, n


def _weeks(start: dt.date, end: dt.date) -> list[dt.date]:
    monday = start - dt.timedelta(days=start.weekday())
    out = []
    while monday <= end:
        out.append(monday)
        monday += dt.timedelta(days=7)
    return out


def weekly_average(eng: Engine, *, region: str | None = None, bbox=None, by: str = "origin",
                   date_from=None, date_to=None) -> dict:
    """``weekly_average``, ``trips``, ``weeks``, ``from``, ``to`` and ``per_week`` (every week of
    the period, with its start date and trips)."""
    if (region is None) == (bbox is None):
        raise InvalidFilter("give either a region or a bounding box")
    if by not in BY:
        raise InvalidFilter(f"by must be one of {', '.join(BY)}, not {str(by)[:40]!r}")
    box = parse_bbox(bbox) if bbox is not None else None
    date_from, date_to = _date(date_from, "from"), _date(date_to, "to")
    with eng.connect() as c:
        if date_from is None or date_to is None:
            first, last = c.execute(query("data_period")).one()
            date_from, date_to = date_from or first, date_to or last
        if date_from is None or date_to is None:  # no trips at all
            return _result(region, box, by, None, None, {})
        if date_from > date_to:
            raise InvalidFilter(f"from ({date_from}) is after to ({date_to})")
        period = {"date_from": date_from, "date_to": date_to}
        if box is None:
            counts = dict(c.execute(query("weekly_region"), {"region": str(region), **period}).all())
        else:
            counts = _box_counts(c, box, by, period)
    return _result(region, box, by, date_from, date_to, counts)


def _box_counts(c, box, by: str, period: dict) -> dict:
    w, s, e, n = box
    # Candidate medium cells: any that may hold a point of the box (one cell of margin for
    # floating-point rounding at cell edges). Interior: two cells in from each edge, wholly inside.
    cx0, cx1 = math.floor((w + 180) / _MEDIUM) - 1, math.floor((e + 180) / _MEDIUM) + 1
    cy0, cy1 = math.floor((s + 90) / _MEDIUM) - 1, math.floor((n + 90) / _MEDIUM) + 1
    inner = {"ix0": cx0 + 3, "ix1": cx1 - 3, "iy0": cy0 + 3, "iy1": cy1 - 3}
    if by == "either":
        inner = {"ix0": 1, "ix1": 0, "iy0": 1, "iy1": 0}  # no interior: each trip counted once, raw
    counts: dict = {}
    cells = {}
    for endpoint, name in ((0, "origin"), (1, "destination")):
        if by not in (name, "either"):
            cells[endpoint] = []
            continue
        if by != "either":
            for week, trips in c.execute(query("weekly_box_cells"), {"endpoint": endpoint, **inner, **period}):
                counts[week] = counts.get(week, 0) + trips
        edge = c.execute(query("box_candidate_cells"), {
            "endpoint": endpoint, "cx0": cx0, "cx1": cx1, "cy0": cy0, "cy1": cy1, **inner, **period}).all()
        cells[endpoint] = [grid.join(cx * _PER_MEDIUM + i, cy * _PER_MEDIUM + j)
                           for cx, cy in edge for i in range(_PER_MEDIUM) for j in range(_PER_MEDIUM)]
    if cells[0] or cells[1]:
        for week, trips in c.execute(query("weekly_box_trips"), {
                "o_cells": cells[0], "d_cells": cells[1], "west": w, "south": s, "east": e, "north": n,
                **period}):
            counts[week] = counts.get(week, 0) + trips
    return counts


def _result(region, box, by, date_from, date_to, counts: dict) -> dict:
    weeks = _weeks(date_from, date_to) if date_from else []
    per_week = [{"week_start": wk.isoformat(), "trips": int(counts.get(wk, 0))} for wk in weeks]
    trips = sum(p["trips"] for p in per_week)
    area = {"region": region} if box is None else {"bbox": list(box), "by": by}
    return {
        **area,
        "from": date_from.isoformat() if date_from else None,
        "to": date_to.isoformat() if date_to else None,
        "weeks": len(weeks), "trips": trips,
        "weekly_average": trips / len(weeks) if weeks else 0.0,
        "per_week": per_week,
    }
