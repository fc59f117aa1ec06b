"""The pydeck specs of the dashboard: the flow map of similar-trip groups and the box map.

Pure functions of data (no Streamlit), so tests can check the layers and counts directly.
"""
from __future__ import annotations

import json
import math

import pydeck as pdk

MAX_ARCS = 5000
ORIGIN_RGB = [255, 140, 0]       # arcs run from orange (origin) ...
DESTINATION_RGB = [0, 180, 255]  # ... to blue (destination)
STYLES = {"dark": "dark", "light": "light"}
_TOOLTIP = {
    "html": "<b>{trips_label}</b> trips ({share_label})<br/>{bucket}<br/>{region}<br/>"
            "<small>{origin_cell} &rarr; {destination_cell}</small>",
    "style": {"fontSize": "13px"},
}


def region_of(lon: float, lat: float, extents: dict) -> str:
    """The region whose extent holds a point (the smallest, where extents overlap), or ''."""
    inside = [(abs((e[2] - e[0]) * (e[3] - e[1])), name) for name, e in extents.items()
              if e[0] <= lon <= e[2] and e[1] <= lat <= e[3]]
    return min(inside)[1] if inside else ""


def arc_rows(groups: list[dict], extents: dict) -> list[dict]:
    """The map's rows: one per group (at most MAX_ARCS), with display labels and a width."""
    groups = groups[:MAX_ARCS]
    top = max((g["trips"] for g in groups), default=1)
    rows = []
    for g in groups:
        rows.append({
            **{k: g[k] for k in ("origin_cell", "destination_cell", "bucket", "trips", "share")},
            "source": list(g["origin"]), "target": list(g["destination"]),
            "width": 1 + 11 * math.sqrt(g["trips"] / top),
            "trips_label": f"{g['trips']:,}", "share_label": f"{g['share']:.2%}",
            "region": region_of(*g["origin"], extents),
        })
    return rows


def origin_rows(rows: list[dict]) -> list[dict]:
    """Trips summed by origin cell (of the groups shown), for the columns layer."""
    by: dict[str, dict] = {}
    for r in rows:
        o = by.setdefault(r["origin_cell"], {"origin_cell": r["origin_cell"], "position": r["source"],
                                             "trips": 0, "region": r["region"], "bucket": "all shown buckets",
                                             "destination_cell": "all destinations"})
        o["trips"] += r["trips"]
    total = sum(r["trips"] for r in rows) or 1
    for o in by.values():
        o["trips_label"], o["share_label"] = f"{o['trips']:,}", f"{o['trips'] / total:.2%} of shown"
    return list(by.values())


def focus_region(rows: list[dict]) -> str:
    """The region with the most trips among the rows (the map opens on it)."""
    by: dict[str, int] = {}
    for r in rows:
        by[r["region"]] = by.get(r["region"], 0) + r["trips"]
    return max(by, key=by.get) if by else ""


def focus_points(rows: list[dict]) -> list[list[float]]:
    region = focus_region(rows)
    mine = [r for r in rows if r["region"] == region] or rows
    return [r["source"] for r in mine] + [r["target"] for r in mine]


MAX_OPENING_ZOOM = 11


def flow_deck(groups: list[dict], *, extents: dict, style: str = "dark", cell_size_deg: float = 0.02,
              arcs: bool = True) -> pdk.Deck:
    """Arcs (width by trips, orange origin to blue destination) over columns of origin totals."""
    rows = arc_rows(groups, extents)
    origins = origin_rows(rows)
    top = max((o["trips"] for o in origins), default=1)
    layers = [pdk.Layer(
        "ColumnLayer", id="origins", data=origins, get_position="position",
        get_elevation=f"trips / {top} * 3000", elevation_scale=1, radius=cell_size_deg * 111_000 * 0.45,
        disk_resolution=6, extruded=True, pickable=True, auto_highlight=True,
        get_fill_color=ORIGIN_RGB + [90],
    )]
    if arcs:
        # A group within one cell has no direction to draw (and a zero-length arc renders as a
        # loop); it is counted in its origin's column.
        layers.append(pdk.Layer(
            "ArcLayer", id="flows", data=[r for r in rows if r["source"] != r["target"]], get_source_position="source",
            get_target_position="target", get_width="width",
            get_source_color=ORIGIN_RGB + [200], get_target_color=DESTINATION_RGB + [200],
            pickable=True, auto_highlight=True,
        ))
    view = pdk.data_utils.compute_view(focus_points(rows)) if rows else pdk.ViewState(latitude=50, longitude=10, zoom=3)
    # The busiest groups often sit in a few central cells: fitting them alone zooms in so far that
    # the columns fill the map. At most a city's width: the flows keep their surroundings.
    view.zoom = min(view.zoom, MAX_OPENING_ZOOM)
    view.pitch, view.bearing = 40, 0
    return pdk.Deck(layers=layers, initial_view_state=view, map_style=STYLES.get(style, "dark"),
                    tooltip=_TOOLTIP)


def box_deck(box: tuple[float, float, float, float], style: str = "dark") -> pdk.Deck:
    """A small map with the bounding box drawn on it."""
    w, s, e, n = box
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    layer = pdk.Layer("PolygonLayer", id="box", data=[{"polygon": ring}], get_polygon="polygon",
                      get_fill_color=DESTINATION_RGB + [50], get_line_color=DESTINATION_RGB + [255],
                      line_width_min_pixels=2, stroked=True, filled=True)
    view = pdk.data_utils.compute_view([[w, s], [e, n]])
    view.zoom = max(min(view.zoom - 1.5, 13), 1)
    return pdk.Deck(layers=[layer], initial_view_state=view, map_style=STYLES.get(style, "dark"))


def groups_geojson(groups: list[dict]) -> str:
    """The groups as GeoJSON: one LineString per group, origin to destination."""
    features = [{
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(g["origin"]), list(g["destination"])]},
        "properties": {k: g[k] for k in ("origin_cell", "destination_cell", "bucket", "trips", "share")},
    } for g in groups]
    return json.dumps({"type": "FeatureCollection", "features": features})
