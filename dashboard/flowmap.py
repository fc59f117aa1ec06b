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
FOOTPRINT_RGB = [140, 140, 150]  # where all trips start: a grey that shows on dark, light and no base map


def _base_map(carto: str, background: str) -> list[dict]:
    """A MapLibre style: CARTO's raster tiles over a plain background of the style's colour, so
    that where no tile loads (a closed network) the map is still dark or light, not white as
    when CARTO's vector style cannot be fetched. (A list of one: Streamlit takes a style object
    as the first item of a list.)"""
    return [{
        "version": 8,
        "sources": {"carto": {
            "type": "raster", "tileSize": 256, "maxzoom": 20,
            "tiles": [f"https://{s}.basemaps.cartocdn.com/{carto}/{{z}}/{{x}}/{{y}}@2x.png" for s in "abcd"],
            "attribution": '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors '
                           '© <a href="https://carto.com/attributions">CARTO</a>'}},
        "layers": [{"id": "background", "type": "background", "paint": {"background-color": background}},
                   {"id": "carto", "type": "raster", "source": "carto"}],
    }]


STYLES = {"dark": _base_map("dark_all", "#1b1d24"), "light": _base_map("light_all", "#f2f2ef")}


def _deck(layers: list, view: pdk.ViewState, style: str, **kw) -> pdk.Deck:
    deck = pdk.Deck(layers=layers, initial_view_state=view, **kw)
    deck.map_style = STYLES.get(style, STYLES["dark"])  # after: pydeck's constructor looks names up only
    return deck
_TOOLTIP = {
    "html": "<b>{trips_label}</b> trips ({share_label} of trips matching)<br/>{bucket}<br/>{region}<br/>"
            "<small>{route}</small>",
    "style": {"fontSize": "13px"},
}
_WIDTH_FLOOR = 50  # trips of the widest arc's scale at least: a map of 2-trip groups is not all thick arcs
PITCH = 30  # degrees: enough to see arcs rise, not so much that columns hide them
ARC_TILT = 15  # degrees, to the right of the way travelled: A->B and B->A arcs part instead of overlapping


def region_of(lon: float, lat: float, extents: dict) -> str:
    """The region whose extent holds a point (the smallest, where extents overlap), or ''."""
    inside = [(abs((e[2] - e[0]) * (e[3] - e[1])), name) for name, e in extents.items()
              if e[0] <= lon <= e[2] and e[1] <= lat <= e[3]]
    return min(inside)[1] if inside else ""


def place(point) -> str:
    """A cell's centre for people, each coordinate named by its hemisphere (the table and the CLI
    give lon, lat; people read lat, lon): ``50.0800° N, 14.4200° E``."""
    lon, lat = point
    return f"{abs(lat):.4f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.4f}° {'E' if lon >= 0 else 'W'}"


def arc_rows(groups: list[dict], extents: dict) -> list[dict]:
    """The map's rows: one per origin and destination cell pair of the groups shown (at most
    MAX_ARCS groups), its time buckets summed and listed in the tooltip (one arc per bucket
    would draw them on top of each other), with display labels and a width."""
    pairs: dict[tuple[str, str], dict] = {}
    for g in groups[:MAX_ARCS]:
        p = pairs.setdefault((g["origin_cell"], g["destination_cell"]), {
            "origin_cell": g["origin_cell"], "destination_cell": g["destination_cell"],
            "source": list(g["origin"]), "target": list(g["destination"]), "trips": 0, "share": 0.0, "buckets": []})
        p["trips"] += g["trips"]
        p["share"] += g["share"]
        p["buckets"].append((g["bucket"], g["trips"]))
    scale = max(max((p["trips"] for p in pairs.values()), default=1), _WIDTH_FLOOR)
    rows = []
    for p in pairs.values():
        buckets = p.pop("buckets")
        listed = ", ".join(f"{b} ({t:,})" for b, t in buckets[:3]) + (f", {len(buckets) - 3} more" if len(buckets) > 3 else "")
        rows.append({
            **p, "bucket": buckets[0][0] if len(buckets) == 1 else f"{len(buckets)} time buckets: {listed}",
            "width": 1 + 11 * math.sqrt(p["trips"] / scale),
            "trips_label": f"{p['trips']:,}", "share_label": percent(p["share"]),
            "region": region_of(*p["source"], extents),
            "route": f"within the cell at {place(p['source'])}" if p["source"] == p["target"]
            else f"from {place(p['source'])} to {place(p['target'])}",
        })
    return rows


def picked_origin(selection: dict | None) -> str | None:
    """The origin cell of what was clicked on the flow map: a column (its cell), an arc or a ring
    (the cell it starts from); None when nothing was."""
    objects = (selection or {}).get("objects") or {}
    for layer in ("origins", "flows", "within"):
        if objects.get(layer):
            return objects[layer][0].get("origin_cell")
    return None


def percent(share: float) -> str:
    """A share for people: two decimals, and "<0.01%" rather than "0.00%" for a group that has trips."""
    return "<0.01%" if 0 < share < 0.00005 else f"{share:.2%}"


def origin_rows(rows: list[dict]) -> list[dict]:
    """Trips summed by origin cell (of the groups shown), for the columns layer; shares, like the
    arcs' and the table's, of all the trips matching."""
    by: dict[str, dict] = {}
    for r in rows:
        o = by.setdefault(r["origin_cell"], {"origin_cell": r["origin_cell"], "position": r["source"],
                                             "trips": 0, "share": 0.0, "region": r["region"],
                                             "bucket": "all time buckets shown",
                                             "route": f"from {place(r['source'])} to the destinations shown"})
        o["trips"] += r["trips"]
        o["share"] += r["share"]
    for o in by.values():
        o["trips_label"], o["share_label"] = f"{o['trips']:,}", percent(o["share"])
    return list(by.values())


def focus_region(rows: list[dict]) -> str:
    """The region with the most trips among the rows (the map opens on it)."""
    by: dict[str, int] = {}
    for r in rows:
        by[r["region"]] = by.get(r["region"], 0) + r["trips"]
    return max(by, key=by.get) if by else ""


def focus_points(rows: list[dict], every_region: bool = False) -> list[list[float]]:
    """The points the map opens on: those of the busiest region's rows (the regions are often
    cities far apart, and a view of all of them shows none), or of all rows (``every_region``:
    the analyst chose the regions)."""
    region = focus_region(rows)
    mine = rows if every_region else [r for r in rows if r["region"] == region] or rows
    return [r["source"] for r in mine] + [r["target"] for r in mine]


MAX_OPENING_ZOOM = 11
MAP_PIXELS = (880, 460)  # about the flow map's size on the page (560 px high), less its arcs' height


def fit_view(points: list[list[float]], width: int, height: int) -> pdk.ViewState:
    """The view that frames the points (lon, lat) in a map of ``width`` x ``height`` pixels, with a
    margin; the farthest 2 % of them on each side left out, so that one long flow does not shrink
    a city's flows to a corner (pydeck's compute_view fits the points in 256 to 512 pixels)."""
    def x(lon):
        return (lon + 180) / 360

    def y(lat):
        lat = max(min(lat, 85.05), -85.05)
        return (1 - math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / math.pi) / 2

    def span(values):
        v = sorted(values)
        cut = int(len(v) * 0.02)
        return v[cut], v[len(v) - 1 - cut]

    (x0, x1), (y0, y1) = span([x(p[0]) for p in points]), span([y(p[1]) for p in points])
    zoom = math.log2(min(width / max(x1 - x0, 1e-9), height / max(y1 - y0, 1e-9)) / 512 * 0.8)
    cy = (y0 + y1) / 2
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * cy))))
    return pdk.ViewState(longitude=(x0 + x1) / 2 * 360 - 180, latitude=lat, zoom=min(max(zoom, 1), 20))


def footprint_layer(cells: list[dict]) -> pdk.Layer:
    """Where all trips start (core.origin_cells: cells of every date, unfiltered), flat and
    faint under the other layers, darker where more trips start (log scale, least to most): the
    data's own geography, there even when no base map loads (a closed network), the same in every
    view."""
    logs = [math.log1p(c["trips"]) for c in cells]
    low, span = min(logs, default=0), max(logs, default=0) - min(logs, default=0)
    # A row is a cell's west and south edges and its opacity, the square drawn from them in the
    # browser: the page sends the deck's JSON on every run (4,079 cells at 10M: 0.34 MB, not
    # the 1.8 MB of the squares' corners written out).
    size = cells[0]["bounds"][2] - cells[0]["bounds"][0] if cells else 0
    data = [{"w": c["bounds"][0], "s": c["bounds"][1], "a": round(20 + 110 * (v - low) / span) if span else 130}
            for c, v in zip(cells, logs)]
    return pdk.Layer("PolygonLayer", id="footprint", data=data,
                     get_polygon=f"[[w, s], [w + {size:g}, s], [w + {size:g}, s + {size:g}], [w, s + {size:g}]]",
                     get_fill_color=f"[{', '.join(map(str, FOOTPRINT_RGB))}, a]",
                     stroked=False, filled=True, pickable=False)


def flow_deck(groups: list[dict], *, extents: dict, style: str = "dark", cell_size_deg: float = 0.02,
              arcs: bool = True, footprint: list[dict] | None = None, every_region: bool = False) -> pdk.Deck:
    """Arcs (width by trips, orange origin to blue destination; each direction to its own side)
    over rings for the groups within one cell, over columns of origin totals, over the footprint of
    all trips (``footprint``: core.origin_cells) when given. The map opens on the busiest region,
    or on all of them (``every_region``)."""
    rows = arc_rows(groups, extents)
    origins = origin_rows(rows)
    top = max((o["trips"] for o in origins), default=1)
    layers = [footprint_layer(footprint)] if footprint else []
    layers += [pdk.Layer(
        "ColumnLayer", id="origins", data=origins, get_position="position",
        get_elevation=f"trips / {top} * 2000", elevation_scale=1,
        # Narrower than the cell and fainter for large cells, so that columns do not hide the arcs.
        radius=cell_size_deg * 111_000 * (0.2 if cell_size_deg >= 0.08 else 0.25),
        disk_resolution=6, extruded=True, pickable=True, auto_highlight=True,
        get_fill_color=ORIGIN_RGB + [60 if cell_size_deg >= 0.08 else 90],
    )]
    if arcs:
        within = [r for r in rows if r["source"] == r["target"]]
        if within:
            # A group within one cell has no direction to draw (a zero-length arc renders as a
            # loop): a ring around its cell's column, as wide as an arc of its trips would be.
            layers.append(pdk.Layer(
                "ScatterplotLayer", id="within", data=within, get_position="source",
                # around its column, about within its cell east to west too (a degree of longitude
                # is shorter than one of latitude: by a third at 50°)
                get_radius=cell_size_deg * 111_000 * 0.35, get_line_width="width",
                line_width_units='"pixels"',  # quoted: pydeck reads a bare string as an accessor
                stroked=True, filled=False,
                get_line_color=DESTINATION_RGB + [200], pickable=True, auto_highlight=True,
            ))
        layers.append(pdk.Layer(
            "ArcLayer", id="flows", data=[r for r in rows if r["source"] != r["target"]], get_source_position="source",
            get_target_position="target", get_width="width", get_tilt=ARC_TILT,
            get_source_color=ORIGIN_RGB + [200], get_target_color=DESTINATION_RGB + [200],
            pickable=True, auto_highlight=True,
        ))
    view = (fit_view(focus_points(rows, every_region), *MAP_PIXELS) if rows
            else pdk.ViewState(latitude=50, longitude=10, zoom=3))
    # The busiest groups often sit in a few central cells: fitting them alone zooms in so far that
    # the columns fill the map. At most a city's width: the flows keep their surroundings.
    # One step further out per 4x larger cell (9 km cells: zoom 10), so that large cells' columns
    # do not fill the map.
    view.zoom = min(view.zoom, MAX_OPENING_ZOOM - math.log2(cell_size_deg / 0.02) / 2)
    view.pitch, view.bearing = PITCH, 0
    return _deck(layers, view, style, tooltip=_TOOLTIP)


def box_deck(box: tuple[float, float, float, float], style: str = "dark",
             footprint: list[dict] | None = None) -> pdk.Deck:
    """A small map with the bounding box drawn on it, over the footprint of all trips when given."""
    w, s, e, n = box
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    layer = pdk.Layer("PolygonLayer", id="box", data=[{"polygon": ring}], get_polygon="polygon",
                      get_fill_color=DESTINATION_RGB + [50], get_line_color=DESTINATION_RGB + [255],
                      line_width_min_pixels=2, stroked=True, filled=True)
    view = pdk.data_utils.compute_view([[w, s], [e, n]])
    view.zoom = max(min(view.zoom - 1.5, 13), 1)
    layers = ([footprint_layer(footprint)] if footprint else []) + [layer]
    return _deck(layers, view, style)


def groups_geojson(groups: list[dict]) -> str:
    """The groups as GeoJSON: one LineString per group, origin to destination (a Point for a group
    within one cell)."""
    features = [{
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(g["origin"]), list(g["destination"])]}
        if g["origin"] != g["destination"] else {"type": "Point", "coordinates": list(g["origin"])},  # within one cell
        "properties": {**{k: g[k] for k in ("origin_cell", "destination_cell", "bucket", "trips")},
                       "share_percent": 100 * g["share"]},  # as in the CSV
    } for g in groups]
    return json.dumps({"type": "FeatureCollection", "features": features})
