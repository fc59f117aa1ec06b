"""Weekly average number of trips for an area: a region, or a bounding box (edges included).

The period is ``date_from`` to ``date_to`` (inclusive; by default the first to the last trip in
the database). Its weeks are the ISO weeks (Monday to Sunday) that touch it; the average is the
area's trips in the period divided by that number of weeks, weeks without trips counting as zero.

A region is summed from daily_counts. A box is exact without scanning the whole table: medium
cells wholly inside it come from area_days, fine cells wholly inside it from the indexes on
(o_cell, ts) and (d_cell, ts) alone, and only the trips in the fine cells its edges cross are read
with their coordinates. With ``by="either"`` a trip counts once if either end is in the box: those
with an end in a medium cell wholly inside it by origin + destination - both ends (area_days,
pair_days), the others from the raw rows around those cells, read once. The SQL is in
sql/queries/weekly.sql.
"""
from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import Engine

from . import grid
from .db import snapshot
from .errors import InvalidFilter
from .filters import _date, stored_name
from .queries import query

BY = ("origin", "destination", "either")
_PER_MEDIUM = 4  # fine cells per medium cell, each way


def parse_bbox(value) -> tuple[float, float, float, float]:
    """``west,south,east,north`` (a string or four numbers) in degrees, checked."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        if any(isinstance(p, str) and ("_" in p or not p.isascii()) for p in parts):  # float() reads 1_0 as 10
            raise ValueError(value)
        w, s, e, n = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise InvalidFilter("a bounding box is four numbers: west,south,east,north") from None
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise InvalidFilter("bounding box values must be finite numbers")
    if -180 <= e < w <= 180 and -90 <= s <= n <= 90:
        w, s_, e, n_ = (f"{v:.10g}" for v in (w, s, e, n))
        raise InvalidFilter(f"west ({w}) must not be greater than east ({e}). For a box across the "
                            f"antimeridian (180°), which is not supported, ask for its two halves: "
                            f"{w},{s_},180,{n_} and -180,{s_},{e},{n_} (by either end, a trip from one "
                            "half to the other is in both)")
    if -90 <= n < s <= 90 and -180 <= w <= e <= 180:
        raise InvalidFilter(f"south ({s:.10g}) must not be greater than north ({n:.10g})")
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise InvalidFilter("bounding box must have -180 <= west <= east <= 180 and -90 <= south <= north <= 90")
    return w, s, e, n


def _weeks(start: dt.date, end: dt.date) -> list[dt.date]:
    out = [start - dt.timedelta(days=start.weekday())]
    while (end - out[-1]).days >= 7:  # (not past ``end`` first: 9999-12-27 has no next Monday)
        out.append(out[-1] + dt.timedelta(days=7))
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
    region = stored_name(region) if region is not None else None
    date_from, date_to = _date(date_from, "from"), _date(date_to, "to")
    given_from, given_to = date_from is not None, date_to is not None
    with snapshot(eng) as c:
        if date_from is None or date_to is None:
            first, last = c.execute(query("data_period")).one()
            date_from, date_to = date_from or first, date_to or last
        if date_from is None or date_to is None:  # no trips at all, and an end of the period not given
            return _result(region, box, by, date_from, date_to, {})
        if date_from > date_to:
            if not given_to:
                raise InvalidFilter(f"from ({date_from}) is after the last trip ({date_to}), where the period "
                                    "ends when no end is given")
            if not given_from:
                raise InvalidFilter(f"to ({date_to}) is before the first trip ({date_from}), where the period "
                                    "starts when no start is given")
            raise InvalidFilter(f"from ({date_from}) is after to ({date_to})")
        period = {"date_from": date_from, "date_to": date_to}
        if box is None:
            counts = dict(c.execute(query("weekly_region"), {"region": str(region), **period}).all())
        else:
            counts = _box_counts(c, box, by, period)
    return _result(region, box, by, date_from, date_to, counts)


# Float rounding of cell bounds, and the margin of the cell a point was given at ingest (5e-10,
# core/grid.py), are below this (degrees); a cell counts as wholly inside the box only with this much to spare.
_EPS = 1e-9
_MAX_RING_CELLS = 20_000  # fine cells; past this, the trips with either end in the ring are found by a scan
# medium cells: pair_days finds each pair of the interior's cells in its index up to this (PostgreSQL
# 15 descends once per pair); past it, it reads the range of origins and filters
_MAX_PAIRS_CELLS = 100


def _fine_axis(lo: float, hi: float, shift: float) -> tuple[range, range]:
    """Along one axis (``shift`` 180 for longitudes, 90 for latitudes): the fine cell indices that
    may hold a point of [lo, hi], and those whose points all lie in it."""
    f = grid.FINE_DEG
    near = range(math.floor((lo + shift) / f) - 1, math.floor((hi + shift) / f) + 2)
    touch = [i for i in near if (i + 1) * f - shift + _EPS >= lo and i * f - shift - _EPS <= hi]
    inside = [i for i in touch if i * f - shift - _EPS >= lo and (i + 1) * f - shift + _EPS <= hi]
    return (range(touch[0], touch[-1] + 1) if touch else range(0),
            range(inside[0], inside[-1] + 1) if inside else range(0))


def _add(counts: dict, rows, sign: int = 1) -> None:
    for week, trips in rows:
        counts[week] = counts.get(week, 0) + sign * trips


def _box_counts(c, box, by: str, period: dict) -> dict:
    """Trips per week with an end (``by``) in the box. Three tiers, each trip counted once:
    medium cells wholly inside the box from area_days; fine cells wholly inside it (in the other
    medium cells) from the (cell, ts) indexes alone; only the fine cells that the box's edges
    cross are read row by row, with their coordinates. ``either``: see _either_counts."""
    w, s, e, n = box
    tx, ix = _fine_axis(w, e, 180.0)
    ty, iy = _fine_axis(s, n, 90.0)
    # Medium cells all of whose fine cells are wholly inside (the interior); candidates: any that may hold a point.
    inner = {"ix0": -(-ix.start // _PER_MEDIUM), "ix1": ix.stop // _PER_MEDIUM - 1,
             "iy0": -(-iy.start // _PER_MEDIUM), "iy1": iy.stop // _PER_MEDIUM - 1}
    if not (len(ix) and len(iy)):
        inner = {"ix0": 1, "ix1": 0, "iy0": 1, "iy1": 0}
    if not (len(tx) and len(ty)):
        return {}
    coords = {"west": w, "south": s, "east": e, "north": n, **period}
    if by == "either":
        return _either_counts(c, (tx, ty), (ix, iy), inner, period, coords)
    outer = {"cx0": tx.start // _PER_MEDIUM, "cx1": (tx.stop - 1) // _PER_MEDIUM,
             "cy0": ty.start // _PER_MEDIUM, "cy1": (ty.stop - 1) // _PER_MEDIUM}
    endpoint = BY.index(by)
    counts: dict = {}
    _add(counts, c.execute(query("weekly_box_cells"), {"endpoint": endpoint, **inner, **period}))
    cells = c.execute(query("box_candidate_cells"), {"endpoint": endpoint, **outer, **inner, **period}).all()
    whole, edge = [], []
    for cx, cy in cells:
        for i in range(cx * _PER_MEDIUM, (cx + 1) * _PER_MEDIUM):
            for j in range(cy * _PER_MEDIUM, (cy + 1) * _PER_MEDIUM):
                if i in tx and j in ty:
                    (whole if i in ix and j in iy else edge).append(grid.join(i, j))
    if whole:
        _add(counts, c.execute(query(f"weekly_box_{by}_cells"), {"cells": whole, **period}))
    if edge:
        _add(counts, c.execute(query("weekly_box_trips"), {"endpoint": endpoint, "cells": edge, **coords}))
    return counts


def _either_counts(c, touch: tuple[range, range], inside: tuple[range, range], inner: dict, period: dict,
                   coords: dict) -> dict:
    """Trips per week with either end in the box. Those with an end in the interior (medium cells
    wholly inside the box) from the summaries: by origin + by destination (area_days) - both ends
    (pair_days, and the raw trips of the jobs compaction has not yet counted there). The others
    have an end in the box outside the interior, in a fine cell of the ring around it that may
    hold a point of the box (``touch``): they are read once from the raw rows, in the box by
    their cell where it lies wholly inside (``inside``), else by their coordinates."""
    mx, my = range(inner["ix0"], inner["ix1"] + 1), range(inner["iy0"], inner["iy1"] + 1)
    fx, fy = (range(r.start * _PER_MEDIUM, r.stop * _PER_MEDIUM) if len(mx) and len(my) else range(0)
              for r in (mx, my))  # the interior's fine cells
    counts: dict = {}
    if len(fx):
        for endpoint in (0, 1):
            _add(counts, c.execute(query("weekly_box_cells"), {"endpoint": endpoint, **inner, **period}))
        _add(counts, c.execute(query("weekly_box_both_inside"), {
            **inner, **period, "raw_jobs": c.execute(query("trip_times_missing")).scalar(),
            "cells": [grid.join(i, j) for i in mx for j in my] if len(mx) * len(my) <= _MAX_PAIRS_CELLS else None,
            "fine_cells": ([grid.join(i, j) for i in fx for j in fy]
                           if len(fx) * len(fy) <= _MAX_RING_CELLS else None)}), -1)
    ring = whole = None
    if len(touch[0]) * len(touch[1]) - len(fx) * len(fy) <= _MAX_RING_CELLS:
        ring, whole = _cells_outside(*touch, fx, fy), _cells_outside(*inside, fx, fy)
    _add(counts, c.execute(query("weekly_box_either_rest"), {**inner, **coords, "ring": ring, "whole": whole}))
    return counts


def _cells_outside(xs: range, ys: range, fx: range, fy: range) -> list[int]:
    """The ids of the fine cells of ``xs`` x ``ys`` outside ``fx`` x ``fy`` (the interior's)."""
    out = []
    for i in xs:
        js = (ys,) if i not in fx else (range(ys.start, min(ys.stop, fy.start)), range(max(ys.start, fy.stop), ys.stop))
        out.extend(grid.join(i, j) for r in js for j in r)
    return out


def _result(region, box, by, date_from, date_to, counts: dict) -> dict:
    weeks = _weeks(date_from, date_to) if date_from and date_to else []
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
