"""The view (filters and grouping controls) <-> the URL's query parameters, so a view can be shared."""
from __future__ import annotations

import datetime as dt

DEFAULTS = {"cell": "medium", "bucket": 1, "days": "all", "style": "dark", "limit": 1000, "by": "origin",
            "tab": "Flows"}
CELLS = ("fine", "medium", "coarse")
CELL_LABELS = {"fine": "0.5 km", "medium": "2 km", "coarse": "9 km"}  # how the page names them
BUCKETS = (1, 2, 3, 4, 6, 24)
LIMITS = (100, 250, 500, 1000, 2500, 5000)  # groups on the map: the slider's stops
DAYS = ("all", "weekdays", "weekend")
STYLES = ("dark", "light")
BY = ("origin", "destination", "either")  # a bounding box counts trips by
TABS = ("Flows", "Weekly averages", "Insights", "Load data")


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``west,south,east,north`` within the number inputs' ranges (the page checks the rest)."""
    try:
        w, s, e, n = (float(v) for v in (value or "").split(","))
    except ValueError:
        return None
    ok = all(-180 <= v <= 180 for v in (w, e)) and all(-90 <= v <= 90 for v in (s, n))
    return (w, s, e, n) if ok else None


def _list(params, key: str) -> list[str]:
    return [v for v in params.get_all(key) if v] if hasattr(params, "get_all") else list(params.get(key, []))


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def read(params, regions: list[str], datasources: list[str]) -> dict:
    """The view in the URL, with anything unknown or malformed replaced by its default (``unknown``:
    the regions and datasources named that are not in the data; ``malformed``: the other parameters
    replaced, as ``key=value``, so the page can say so)."""
    malformed: list[str] = []

    def given(key):
        v = params.get(key)
        return v[-1] if isinstance(v, list) and v else v

    def dropped(key):
        malformed.append(f"{key}={str(given(key))[:40]}")

    def pick(key, allowed, cast=str):
        if given(key) is None:
            return DEFAULTS[key]
        try:
            v = cast(given(key))
        except (TypeError, ValueError):
            v = None
        if v in allowed:
            return v
        dropped(key)
        return DEFAULTS[key]

    hours = (0, 23)
    if given("hours") is not None:
        try:
            h0, h1 = (int(x) for x in given("hours").split("-"))
            if not 0 <= h0 <= h1 <= 23:
                raise ValueError
            hours = (h0, h1)
        except ValueError:  # a range across midnight (22-3) included: the hours slider has no such range
            dropped("hours")
    limit = pick("limit", LIMITS, int)
    dates = {}
    for key in ("from", "to"):
        dates[key] = _date(given(key))
        if given(key) and dates[key] is None:
            dropped(key)
    bbox = _bbox(given("bbox"))
    if given("bbox") and bbox is None:
        dropped("bbox")
    return {
        "regions": [r for r in _list(params, "region") if r in regions],
        "datasources": [d for d in _list(params, "datasource") if d in datasources],
        "unknown": [v for key, known in (("region", regions), ("datasource", datasources))
                    for v in _list(params, key) if v not in known],  # names not in the data (left out)
        "date_from": dates["from"], "date_to": dates["to"],
        "days": pick("days", DAYS), "hours": hours,
        "cell": pick("cell", CELLS), "bucket": pick("bucket", BUCKETS, int),
        "style": pick("style", STYLES), "limit": limit,
        "origin": (given("origin") or "")[:40] or None,  # a clicked origin cell (the page checks it)
        "bbox": bbox, "by": pick("by", BY),  # the weekly averages' box
        "tab": pick("tab", TABS), "malformed": malformed,
    }


def write(view: dict) -> dict:
    """Query parameters for a view (defaults left out, to keep links short)."""
    out: dict = {}
    if view["regions"]:
        out["region"] = view["regions"]
    if view["datasources"]:
        out["datasource"] = view["datasources"]
    if view["date_from"]:
        out["from"] = view["date_from"].isoformat()
    if view["date_to"]:
        out["to"] = view["date_to"].isoformat()
    if tuple(view["hours"]) != (0, 23):
        out["hours"] = f"{view['hours'][0]}-{view['hours'][1]}"
    for key in ("days", "cell", "bucket", "style", "limit", "tab"):
        if view.get(key, DEFAULTS[key]) != DEFAULTS[key]:
            out[key] = str(view[key])
    if view.get("origin"):
        out["origin"] = view["origin"]
    if view.get("bbox"):
        out["bbox"] = ",".join(repr(round(float(v), 6)) for v in view["bbox"])
    if view.get("by", DEFAULTS["by"]) != DEFAULTS["by"]:
        out["by"] = view["by"]
    return out


def period(view: dict, first: dt.date | None, last: dt.date | None) -> tuple:
    """The dates picker's range for a view: its dates within the data's; the whole period when
    they are missing, reversed or wholly outside the data's; () without data."""
    if first is None:
        return ()
    start, end = view["date_from"] or first, view["date_to"] or last
    if start > end or start > last or end < first:
        return first, last
    return max(start, first), min(end, last)


def export_name(cell: str, bucket: int, filters: dict, origin: str | None = None) -> str:
    """A downloaded file's name that says what it holds: the grouping, every filter set and the
    origin cell picked on the map, e.g. ``trip_groups_2km_3h_Prague_2024-01-01_2024-03-31_weekend_7-9h``."""
    def names(values: list[str] | None, what: str) -> list[str]:
        if not values:
            return []
        return ["+".join(values)] if len(values) <= 3 else [f"{len(values)}{what}"]
    parts = [CELL_LABELS[cell].replace(" ", ""), f"{bucket}h", *names(filters.get("regions"), "regions"),
             *names(filters.get("datasources"), "datasources")]
    if filters.get("date_from") or filters.get("date_to"):
        parts.append(f"{filters.get('date_from') or 'first'}_{filters.get('date_to') or 'last'}")
    if filters.get("days") not in (None, "all"):
        parts.append(filters["days"])
    if filters.get("hours"):
        parts.append(f"{filters['hours'][0]}-{filters['hours'][-1]}h")
    if origin:
        parts.append(f"from-{origin}")
    safe = "".join(c if c.isalnum() or c in "+-_." else "-" for c in "_".join(parts))
    return "trip_groups_" + safe.encode()[:150].decode(errors="ignore")  # file names end at 255 bytes
