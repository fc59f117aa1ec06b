"""The trips dashboard: load files, follow jobs live, explore flows and weekly averages.

Calls only the ``core`` facade. Run with ``make run`` (http://localhost:8501).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for p in (str(_HERE), str(_HERE.parent)):
    if p not in sys.path:
        sys.path.insert(0, p)

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402
from streamlit.errors import StreamlitAuthError  # noqa: E402
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx  # noqa: E402

import core  # noqa: E402
import charts  # noqa: E402
import flowmap  # noqa: E402
import history  # noqa: E402
from core.config import may_upload, settings  # noqa: E402
import live  # noqa: E402
import view_params  # noqa: E402

log = logging.getLogger("dashboard")

SAMPLE = _HERE.parent / "data" / "trips.csv"

st.set_page_config(page_title="Trips analytics", page_icon=str(_HERE / "icon.svg"), layout="wide")  # served by the page
# Every run ends waiting for job events (the live Jobs panel), so Streamlit's "Running… Stop"
# indicator would always show, and Stop would end the live status: hidden while running (its
# other states, such as a lost connection, still show). Answers have spinners of their own.
# Metrics' numbers shrink with the window (at 800 px they were cut to "1,00…"). A button drawn
# over in a later run (a job's Cancel, the empty page's sample button, "Show all origins") stays on the page, faded,
# until a run ends, which a page's run never does: hidden while stale.
st.html("<style>[data-testid=stStatusWidget]:has([data-testid=stStatusWidgetRunningIcon], "
        "[data-testid=stStatusWidgetRunningManIcon]) {visibility: hidden} "
        "[data-testid=stMetricValue] {font-size: clamp(1.2rem, 2.6vw, 2.25rem)} "
        "[data-stale=true][class*=st-key-cancel-], [data-stale=true].st-key-load-sample, "
        "[data-stale=true].st-key-show-all-origins {display: none}</style>")


# -- who may load data: sign-in with st.login when .streamlit/secrets.toml has an [auth] section;
# TRIPS_UPLOADERS limits loading (uploads, the sample, cancelling jobs) to some signed-in users.

def auth_providers() -> list[str] | None:
    """None without an [auth] section; else the named providers ([auth.NAME]), [] for the default."""
    try:
        auth = st.secrets["auth"] if "auth" in st.secrets else None
    except FileNotFoundError:  # no secrets.toml at all
        return None
    return None if auth is None else [k for k, v in auth.items() if hasattr(v, "keys")]


def signed_in_email() -> str | None:
    if not st.user.get("is_logged_in") or st.user.get("email_verified") is False:
        return None
    return st.user.get("email")


def sign_in_panel(providers: list[str]) -> None:
    if st.user.get("is_logged_in"):
        st.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'you'}")
        st.button("Sign out", icon=":material/logout:", on_click=st.logout)
        return
    for provider in providers or [None]:
        if st.button(f"Sign in with {provider}" if provider else "Sign in", icon=":material/login:",
                     key=f"login-{provider}"):
            try:
                st.login(provider)
            except StreamlitAuthError as e:  # e.g. Authlib missing: say so, not a blank error
                st.error(f"Sign-in is not available: {e}")


providers = auth_providers()
if providers is not None:
    with st.sidebar:
        sign_in_panel(providers)
email = signed_in_email() if providers is not None else None
can_upload = may_upload(email, settings().uploaders)


# -- cached answers: keyed by the filters and by the data version (changes when a job completes)

@st.cache_data(show_spinner=False, max_entries=64)
def cached_stats(version: str) -> dict:
    s = core.stats()
    if s["first_datetime"]:
        first, last = pd.Timestamp(s["first_datetime"]), pd.Timestamp(s["last_datetime"])
        s["weeks"] = ((last.normalize() - pd.Timedelta(days=last.weekday()))
                      - (first.normalize() - pd.Timedelta(days=first.weekday()))).days // 7 + 1
    return s


@st.cache_data(show_spinner=False, max_entries=16)
def cached_extents(version: str) -> dict:
    return core.region_extents()


@st.cache_data(show_spinner=False, max_entries=4)
def cached_origin_cells(version: str) -> list[dict]:
    return core.origin_cells()


def underlay(version: str) -> list[dict]:
    """The maps' grey squares of where trips start, or none when they cannot be read now (a time
    limit, a dropped connection): the answers drawn over them stand on their own."""
    try:
        return cached_origin_cells(version)
    except Exception:  # noqa: BLE001 - a decoration of the map, never a reason to lose the answer
        log.warning("the maps' underlay could not be read", exc_info=True)
        return []


@st.cache_data(show_spinner="Grouping similar trips…", max_entries=64)
def cached_groups(version: str, **kw) -> dict:
    return core.trip_groups(**kw)


@st.cache_data(show_spinner="Counting the area's trips…", max_entries=256)  # a box by either end: seconds at 10M
def cached_weekly(version: str, **kw) -> dict:
    return core.weekly_average(**kw)


@st.cache_data(show_spinner=False, max_entries=8)
def cached_insights(version: str) -> dict:
    return {"bonus": core.bonus_answers(), "hours": core.hour_totals()}


def short(n: int) -> str:
    """A count in three digits at most: 453,863 -> 454k (a range of two long counts did not fit)."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size * 0.9995:
            return f"{n / size:.3g}{unit}"
    return f"{n:,}"


def count_range(lo: int, hi: int) -> str:
    """A count known within [lo, hi], short: the number, or its bounds in three digits each
    (in full when three digits would not tell them apart)."""
    if lo == hi:
        return f"{lo:,}"
    if short(lo) == short(hi):
        return f"{lo:,}–{hi:,}"
    return f"{short(lo)}–{short(hi)}"


def fmt(n: float) -> str:
    """An average for people: whole from 100, one decimal from 0.1, else two significant digits
    (a box with one trip in 131 weeks averages 0.0076, not "0.0")."""
    if abs(n) >= 100 or n == 0:
        return f"{n:,.0f}"
    return f"{n:,.1f}" if abs(n) >= 0.1 else f"{n:.2g}"


def trips_over_weeks(r: dict) -> str:
    return f"{r['trips']:,} trip{'s' if r['trips'] != 1 else ''} over {r['weeks']:,} week{'s' if r['weeks'] != 1 else ''}"


# -- page ---------------------------------------------------------------------------------------

try:
    # Jobs ended so far, read before any data: one that ends while this run draws makes the status
    # panel rerun the page (it waits at the end, live.job_status).
    jobs_ended = live.jobs_ended()
    version = core.data_version()
    stats = cached_stats(version)
except Exception as e:  # noqa: BLE001 - the database may be down; say so instead of a traceback
    st.error(f"Cannot reach the database ({type(e).__name__}). Is PostGIS running? `make run` starts it.")
    st.stop()

st.title("Trips analytics")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Trips", f"{stats['trips']:,}")
c2.metric("Regions", f"{len(stats['regions']):,}")
c3.metric("Datasources", f"{len(stats['datasources']):,}")
c4.metric("Weeks of data", f"{stats['weeks']:,}" if stats.get("weeks") else "—",
          help=f"{stats['first_datetime']} to {stats['last_datetime']} (local time)" if stats["trips"] else None)

_RAW_SECONDS_PER_TRIP = 1.5e-6  # fine groups of 10M raw trips: 14-15 s here (docs/SCALE.md)
first = pd.Timestamp(stats["first_datetime"]).date() if stats["first_datetime"] else None
last = pd.Timestamp(stats["last_datetime"]).date() if stats["last_datetime"] else None
# The widgets have fixed keys and take the URL's view when a session starts (a link, a reload) and
# on the browser's Back and Forward. Widgets whose default followed the URL were a new element on
# each change, the old one lingering (faded) while the page waits for job events.
state = st.session_state
# Streamlit forgets the state of a widget that a run does not draw: those of the tabs not open are
# kept (assigning a widget's state to itself makes it the session's).
for key in ("box_preset", "box_w", "box_s", "box_e", "box_n", "box_by", "max_bad", "load_again", "rejects_of"):
    if key in state:
        state[key] = state[key]
state.setdefault("max_bad", "1%")
if "f_cell" not in state or getattr(get_script_run_ctx(), "is_history_navigation", False):
    view = view_params.read(st.query_params, stats["regions"], stats["datasources"])
    state.update(f_regions=view["regions"], f_sources=view["datasources"], f_days=view["days"],
                 f_hours=view["hours"], f_cell=view["cell"], f_bucket=view["bucket"], f_style=view["style"],
                 f_limit=view["limit"], origin_cell=view["origin"],
                 f_dates=view_params.period(view, first, last), box_by=view["by"], tab=view["tab"],
                 box_linked=view["bbox"] or ())  # the link's box; () for the preset region's extent
    state["dates_span"] = (first, last) if first else None
    # What of the link could not be shown says so until closed: the view is not the one linked.
    if view["unknown"] and stats["trips"]:
        st.toast(f"Not in the data, so left out of the link's view: {', '.join(u[:40] for u in view['unknown'][:5])}.",
                 icon=":material/filter_alt_off:", duration="infinite")
    if view["malformed"]:
        hours_rule = (" (Hours run from 0 to 23, the first not after the last.)"
                      if any(m.startswith("hours=") for m in view["malformed"]) else "")
        st.toast(f"Not understood, so the defaults are shown instead: {', '.join(view['malformed'])}.{hours_rule}",
                 icon=":material/link_off:", duration="infinite")
    asked = (view["date_from"], view["date_to"])
    if first and any(asked) and tuple(state["f_dates"]) != (asked[0] or first, asked[1] or last):
        backwards = all(asked) and asked[0] > asked[1]
        st.toast(f"The link's dates ({asked[0] or '…'} to {asked[1] or '…'}) "
                 + ("run backwards" if backwards else f"are not within the data's ({first} to {last})")
                 + f": showing {state['f_dates'][0]} to {state['f_dates'][1]}.",
                 icon=":material/date_range:", duration="infinite")
if first and state.get("dates_span") != (first, last):  # new data: the whole period stays the whole period
    if tuple(state.get("f_dates") or ()) in (state.get("dates_span"), ()):
        state["f_dates"] = (first, last)
    state["dates_span"] = (first, last)

with st.sidebar:
    jobs_box = st.container()  # the live Jobs panel, drawn last (it waits for job events), shown first
    st.divider()
    st.header("Filters")
    regions = st.multiselect("Regions", stats["regions"], placeholder="All regions", key="f_regions")
    sources = st.multiselect("Datasources", stats["datasources"], placeholder="All datasources", key="f_sources")
    dates = st.date_input("Dates", min_value=first, max_value=last, format="YYYY-MM-DD", key="f_dates")
    if first and len(dates) == 1:  # the calendar closed after one click: say what the period is
        st.caption(f":material/info: Only a first day is picked: the period runs from {dates[0]} to the last "
                   f"trip ({last}). Pick a last day too for a shorter one (the same day twice: that day).")
    # required=True: clicking the selected option keeps it (it would clear it, the default applying unseen)
    days = st.segmented_control("Days", view_params.DAYS, required=True, format_func=str.capitalize,
                                key="f_days") or "all"
    hours = st.slider("Hours of the day", 0, 23, key="f_hours")
    st.header("Grouping")
    cell = st.segmented_control("Cell size", view_params.CELLS, required=True,
                                format_func=view_params.CELL_LABELS.get, key="f_cell",
                                help="Trips are similar when origin and destination fall in the same cells "
                                     "and their time of day in the same bucket. 2 and 9 km groups come from "
                                     "summaries kept at ingest; 0.5 km groups, and any date range, count the "
                                     "raw trips (about 1.5 s per million trips), except, once the summaries "
                                     "are compacted, 0.5 km groups with no date range of all trips, of the "
                                     "regions chosen or of the datasources chosen (not both), and groups of "
                                     "all regions and datasources over a date range, from the top groups "
                                     "kept for each month most of whose days it has (the other days are "
                                     "counted), of any cell size and time bucket.") or "medium"
    bucket = st.select_slider("Time bucket (hours)", view_params.BUCKETS, key="f_bucket")
    limit = st.select_slider("Groups on the map", view_params.LIMITS, key="f_limit")
    style = st.segmented_control("Map", view_params.STYLES, required=True, format_func=str.capitalize,
                                 key="f_style") or "dark"

extents = cached_extents(version) if stats["trips"] else {}
edges, default_edges = None, None
if extents:  # the weekly averages' box, settled before the URL is written
    # The first region chosen (or the busiest, which the region metrics and the map lead with) gives
    # the box; a region's extent chosen as a preset, a link's box or edges typed in replace it (the
    # preset then shows none: the box is the analyst's).
    first_region = (regions[0] if regions and regions[0] in extents
                    else next((r for r in stats["regions"] if r in extents), next(iter(extents))))
    if (state.get("box_first_region") != first_region or state.get("box_preset", first_region) not in (*extents, None)
            or not all(f"box_{k}" in state for k in "wsen")):
        state.update(box_first_region=first_region, box_preset=first_region, box_edges_of=None)
    linked = state.pop("box_linked", None)  # set when the URL's view was taken
    if linked is not None:
        state.update(box_edges_of=None, box_preset=None if linked else first_region,
                     **{f"box_{k}": v for k, v in zip("wsen", linked)})
    preset = state["box_preset"]
    extent = tuple(float(v) for v in extents[preset]) if preset is not None else None
    shown = state.get("box_edges_of")  # (the preset, the extent its edges were given)
    if preset is not None and shown != (preset, extent):
        # A preset chosen: its extent; the same preset, its region grown with new data: the new
        # extent, unless edges were typed in since.
        if shown is None or shown[0] != preset or tuple(state[f"box_{k}"] for k in "wsen") == shown[1]:
            state.update(box_edges_of=(preset, extent), **{f"box_{k}": v for k, v in zip("wsen", extent)})
    edges = tuple(state[f"box_{k}"] for k in "wsen")
    if preset is not None and edges != extent:  # edges typed in
        state.update(box_preset=None, box_edges_of=None)
    default_edges = tuple(float(v) for v in extents[first_region])

date_from = dates[0] if len(dates) > 0 else None
date_to = dates[1] if len(dates) > 1 else None
whole_period = (date_from in (None, first)) and (date_to in (None, last))
view = {"regions": regions, "datasources": sources, "date_from": None if whole_period else date_from,
        "date_to": None if whole_period else date_to, "days": days, "hours": tuple(hours),
        "cell": cell, "bucket": bucket, "style": style, "limit": limit,
        "origin": st.session_state.get("origin_cell"), "bbox": edges if edges != default_edges else None,
        "by": state.get("box_by") or "origin", "tab": state.get("tab") or view_params.TABS[0]}
st.query_params.from_dict(view_params.write(view))
filters = {"regions": regions or None, "datasources": sources or None, "date_from": view["date_from"],
           "date_to": view["date_to"], "days": days,
           "hours": None if tuple(hours) == (0, 23) else list(range(hours[0], hours[1] + 1))}

# Only the open tab of the answers is drawn (a filter change no longer counts the weekly averages
# too, nor a box the flows); the open tab is in the URL with the view (tab=...).
flows_tab, weekly_tab, insights_tab, load_tab = st.tabs(list(view_params.TABS), key="tab", on_change="rerun")

for tab in (weekly_tab, insights_tab):
    if stats["trips"] == 0 and tab.open:
        tab.info("No trips yet: load the sample on **Flows**, or add your own files in **Load data**.",
                 icon=":material/travel_explore:")

if stats["trips"] == 0 and flows_tab.open:
    with flows_tab:
        st.info("No trips yet. Load the sample to look around, or add your own files in **Load data**.",
                icon=":material/travel_explore:")
        if can_upload and SAMPLE.exists() and st.button("Load the sample (100 trips)", type="primary",
                                                          key="load-sample"):
            live.manager().submit(str(SAMPLE), source="dashboard")
            st.toast("Loading the sample…")


# -- flows ------------------------------------------------------------------------------------------
def flowmap_key() -> str:
    """The flow map's key: a new one each time the map goes back to all origins, so that the
    column clicked before is no longer drawn as selected (a chart keeps its selection)."""
    return f"flowmap-{st.session_state.get('flowmap_resets', 0)}"


def origin_picked() -> None:
    """A column, arc or ring clicked on the map: its origin cell's flows only (a callback, so that
    the chart's selection, which outlives "Show all origins" and Back, acts once)."""
    picked = flowmap.picked_origin((st.session_state.get(flowmap_key()) or {}).get("selection"))
    if picked:
        st.session_state["origin_cell"] = picked


if stats["trips"] and flows_tab.open:
    with flows_tab:
        # Groups that count raw trips (0.5 km cells, a date range, unless compaction keeps them)
        # take seconds per 10M trips: past TRIPS_RAW_GROUPS_ASK trips with no region, the analyst
        # decides, once for the session (asked again on every filter change, the question got in
        # the way). The answer itself says when it would count them (RawCountNeeded).
        key = "count_raw_trips"
        ask_above = None if filters["regions"] or st.session_state.get(key) else settings().raw_groups_ask
        res = None
        # Every slot of the page is drawn on every run, empty or not: while the page waits for job
        # events its run does not end, and an element of a previous run that this one does not
        # draw would linger (faded). So conditional content goes into slots (st.empty).
        question = st.empty()  # whether to count raw trips, or why there is no answer
        try:
            res = cached_groups(version, cell=cell, bucket_hours=bucket, limit=limit, count_raw_above=ask_above,
                                **filters)
        except core.RawCountNeeded as e:
            with question.container():
                counted = (f"The {e.trips:,} trips loaded since the summaries were last compacted are "
                           "counted from the raw rows (compaction, due after such a load, makes them quick again)"
                           if e.since_compaction else
                           f"These groups are counted from up to {e.trips:,} raw trips, not from a summary "
                           "(summaries answer a date range of about two months or more when its busiest groups "
                           "stand out: of all regions, or of one region or datasource in 1-hour buckets, with "
                           "hours that fill whole buckets; shorter ranges in whole months: 2 and 9 km cells, "
                           "and 0.5 km cells of all regions)")
                guess = max(1, round(e.trips * _RAW_SECONDS_PER_TRIP))
                st.warning(f"{counted}: expect up to about {guess:,} s (about 1.5 s per million trips on two "
                           "cores). Choose a region in the sidebar to make it quick, or count anyway (from now "
                           "on, in this session).",
                           icon=":material/hourglass_top:")
                if st.button("Count anyway", key="count-raw"):
                    st.session_state[key] = True
                    st.rerun()
        except (core.InvalidFilter, core.QueryTooSlow) as e:
            question.warning(str(e), icon=":material/hourglass_disabled:" if isinstance(e, core.QueryTooSlow)
                             else None)
        results = st.empty()  # the answer, or a note that nothing matches
        if res is None:
            results.empty()
        elif not res["groups"]:
            results.info("No trips match these filters. Widen the dates, hours or regions.",
                         icon=":material/filter_alt_off:")
        else:
            with results.container():
                groups = res["groups"]
                origin = st.session_state.get("origin_cell")
                if origin and not any(g["origin_cell"] == origin for g in groups):
                    st.toast(f"The origin cell {origin[:40]} has no flows among these groups: showing all origins.",
                             icon=":material/filter_alt_off:", duration="long")
                    origin = None  # not among these groups: forgotten, in the session and the link
                    st.session_state.pop("origin_cell", None)
                    st.query_params.pop("origin", None)
                shown = [g for g in groups if g["origin_cell"] == origin] if origin else groups
                if st.session_state.get("flowmap_origin") and not origin:  # back to all origins, however
                    st.session_state["flowmap_resets"] = st.session_state.get("flowmap_resets", 0) + 1
                st.session_state["flowmap_origin"] = origin
                m1, m2, m3 = st.columns(3)
                m1.metric("Trips matching", f"{res['total_trips']:,}")
                lo, hi = res["total_groups_bounds"]
                m2.metric("Groups", count_range(lo, hi),
                          help="Distinct (origin cell, destination cell, bucket)"
                          + ("." if lo == hi else f": between {lo:,} and {hi:,}.") + " "
                          "Shown as a range when it is not known exactly: the groups are then read from the lists "
                          "of top groups kept by the last compaction of the summaries, summed over months, regions "
                          "or datasources that may share groups, with the files loaded since added in, or counted "
                          "only for the groups of those lists (a region and a datasource together, or a date range, "
                          "that no list of its own answers). The trips counts are exact either way.")
                if origin:  # the map and table narrowed to one origin cell: say how much it holds
                    m3.metric("From this cell, in the top groups", f"{sum(g['trips'] for g in shown):,}",
                              help=f"In {len(shown):,} of the top {len(groups):,} groups")
                else:
                    covered = sum(g["trips"] for g in groups) / res["total_trips"] if res["total_trips"] else 0
                    m3.metric(f"Top {len(groups):,} groups hold", f"{covered:.1%}")
                h0, h1 = hours
                if (h0, h1) != (0, 23) and bucket > 1 and (h0 % bucket or (h1 + 1) % bucket):
                    st.caption(f"Only the trips of hours {h0}-{h1} are counted: the {bucket}-hour buckets at the "
                               "ends of that range hold fewer hours than their names say.")
                show_all = st.empty()  # a button while one origin is shown
                footprint = underlay(version)
                if origin:
                    centre = next(g["origin"] for g in groups if g["origin_cell"] == origin)
                    st.caption(f"Showing only flows from the {view_params.CELL_LABELS[cell]} cell around "
                               f"**{flowmap.place(centre)}** (cell {origin}).")
                    if show_all.button("Show all origins", icon=":material/close:", key="show-all-origins"):
                        st.session_state.pop("origin_cell", None)
                        st.rerun()
                else:
                    rows = flowmap.arc_rows(shown, extents)
                    focus = flowmap.focus_region(rows)
                    squares = (f" Grey squares: where all trips start ({view_params.CELL_LABELS[footprint[0]['level']]} "
                               "cells)." if footprint else "")
                    within = sum(r["source"] == r["target"] for r in rows)
                    rings = (f" Blue rings: {within:,} of the {len(rows):,} cell pairs shown start and end in the "
                             "same cell." if within else "")
                    opens = ("the regions chosen" if len(regions) > 1 else focus or "the data") if regions else (
                        f"{focus}, the busiest region shown; zoom out for the others" if focus else "the data")
                    st.caption(f"Arcs run from orange (origin) to blue (destination), each way on its own side; "
                               "columns are trips by origin. Click a column to see only its flows (an arc: those "
                               f"of its origin).{rings}{squares} The map opens on {opens}.")
                deck = flowmap.flow_deck(shown, extents=extents, style=style, cell_size_deg=res["cell_size_deg"],
                                         footprint=footprint, every_region=bool(regions))
                st.pydeck_chart(deck, height=560, on_select=origin_picked, selection_mode="single-object",
                                key=flowmap_key())
                table = pd.DataFrame([{**{k: g[k] for k in ("origin_cell", "destination_cell", "bucket", "trips")},
                                       "share_percent": 100 * g["share"],
                                       "origin_lon": g["origin"][0], "origin_lat": g["origin"][1],
                                       "destination_lon": g["destination"][0], "destination_lat": g["destination"][1]}
                                      for g in shown])
                # as tall as its rows, up to 280 px (one origin's few groups left empty rows below)
                st.dataframe(table, hide_index=True, height=min(280, 35 * (len(table) + 1) + 3), column_config={
                    "origin_cell": "Origin cell", "destination_cell": "Destination cell", "bucket": "Time of day",
                    "trips": st.column_config.NumberColumn("Trips", format="localized"),
                    "share_percent": st.column_config.NumberColumn("Share of trips matching", format="%.3g%%"),
                    "origin_lon": "Origin lon", "origin_lat": "Origin lat",
                    "destination_lon": "Destination lon", "destination_lat": "Destination lat",
                })
                # side by side, each as wide as its label (fixed columns cut "GeoJSON" at 1000 px)
                buttons = st.container(horizontal=True)
                name = view_params.export_name(cell, bucket, filters, st.session_state.get("origin_cell"))
                buttons.download_button("CSV", table.to_csv(index=False), f"{name}.csv", "text/csv",
                                        icon=":material/download:", on_click="ignore")
                buttons.download_button("GeoJSON", flowmap.groups_geojson(shown), f"{name}.geojson",
                                        "application/geo+json", icon=":material/download:", on_click="ignore")

# -- weekly averages -----------------------------------------------------------------------------------


if stats["trips"] and weekly_tab.open:
    with weekly_tab:
        period = {"date_from": view["date_from"], "date_to": view["date_to"]}
        set_in_sidebar = (("Datasources", sources), ("Days", days != "all"),
                          ("Hours of the day", tuple(hours) != (0, 23)))
        unused = [name for name, on in set_in_sidebar if on]
        if unused:  # said where the numbers are, not only under the chart
            st.info(f"Weekly averages count every datasource, day and hour of the area and dates: the "
                    f"{' and '.join(unused)} filter{'s' if len(unused) > 1 else ''} set in the sidebar "
                    f"appl{'y' if len(unused) > 1 else 'ies'} to the flows only.", icon=":material/info:")
        st.subheader("By region")
        chosen = regions or stats["regions"][:6]
        note = st.empty()
        if not regions and len(stats["regions"]) > 6:
            note.caption("The six regions with the most trips; choose regions in the sidebar.")
        by_region = {r: cached_weekly(version, region=r, **period) for r in chosen}
        averages = st.empty()  # six metrics in two rows of three (some empty), or a table past six regions
        if len(by_region) <= 6:
            with averages.container():
                # Two rows of three: in one row of six, names were cut ("Hamb…") in a 1000 px window.
                cols = [c for _ in range(2) for c in st.columns(3)]
                for col, name in zip(cols, [*by_region, *[None] * 6]):
                    if name is None:
                        col.empty()
                    else:
                        r = by_region[name]
                        col.metric(name, fmt(r["weekly_average"]),
                                   help=trips_over_weeks(r))
        else:
            averages.dataframe(pd.DataFrame([{"region": name, "weekly_average": r["weekly_average"],
                                              "trips": r["trips"], "weeks": r["weeks"]}
                                             for name, r in by_region.items()]),
                               hide_index=True, column_config={
                                   "region": "Region",
                                   "weekly_average": st.column_config.NumberColumn("Weekly average", format="%.1f"),
                                   "trips": st.column_config.NumberColumn("Trips", format="localized"),
                                   "weeks": "Weeks"})
        st.altair_chart(charts.weekly(by_region, stats["regions"]), width="stretch")
        first_r = next(iter(by_region.values()))
        weeks = f"{first_r['weeks']} ISO week{'s' if first_r['weeks'] != 1 else ''}"
        st.caption(f"{first_r['from']} to {first_r['to']}, {weeks} (Monday to Sunday) "
                   f"touching the period; weeks without trips count as zero. {charts.partial_weeks(first_r)}"
                   "Dashed lines: weekly averages. "
                   "Weekly averages count every trip of the area and period: the datasource, days and hours "
                   "filters apply to the flows.")

        st.subheader("By bounding box")
        # (above the columns: in the left one, a 1024 px window cut "Either end" to "Eithe")
        by = st.segmented_control("Count trips by", view_params.BY, required=True, key="box_by",
                                  format_func=lambda b: {"either": "Either end"}.get(b, b.capitalize())) or "origin"
        left, right = st.columns([2, 3])
        with left:
            # The widgets keep their keys (a widget under a new key is a new element: the old one
            # would linger, faded); a link, a preset, or a first region in the sidebar sets them (above).
            st.selectbox("Start from a region's extent", list(extents), key="box_preset",
                         placeholder="A box of your own: choose a region to start again")
            bw = st.columns(2)
            west = bw[0].number_input("West", -180.0, 180.0, step=0.01, format="%.4f", key="box_w")
            east = bw[1].number_input("East", -180.0, 180.0, step=0.01, format="%.4f", key="box_e")
            bn = st.columns(2)
            south = bn[0].number_input("South", -90.0, 90.0, step=0.01, format="%.4f", key="box_s")
            north = bn[1].number_input("North", -90.0, 90.0, step=0.01, format="%.4f", key="box_n")
        with right:
            answer = st.empty()  # one slot: a warning replaces the previous box's map (see the flows tab)
            box = None
            flipped = [(edge, other, lo, hi) for edge, other, lo, hi in
                       (("West", "east", west, east), ("South", "north", south, north)) if lo > hi]
            if flipped:  # a typo, most likely (the CLI explains boxes across 180°)
                edge, other, lo, hi = flipped[0]
                answer.warning(f"{edge} ({lo:g}) is past {other} ({hi:g}): the box holds nothing. "
                               "Swap them, or start again from a region.")
            else:
                try:
                    box = cached_weekly(version, bbox=(west, south, east, north), by=by, **period)
                except (core.InvalidFilter, core.QueryTooSlow) as e:
                    answer.warning(str(e))
            by_words = f"by {by}{' end' if by == 'either' else ''}"
            if box is not None:
                with answer.container():
                    st.pydeck_chart(flowmap.box_deck((west, south, east, north), style, underlay(version)),
                                    height=220)
                    st.metric("Weekly average in the box", fmt(box["weekly_average"]),
                              help=f"{trips_over_weeks(box)}, {by_words}")
                    if not box["trips"]:  # not a flat line without a word
                        st.caption(f"No trip in this box {by_words} over these dates. The grey squares on the "
                                   "map are where trips start; a region's extent (above) starts from its trips.")
        chart = st.empty()
        if box is not None:
            chart.altair_chart(charts.weekly({f"Box, {by_words}": box}),
                               width="stretch")
        else:
            chart.empty()

# -- insights ---------------------------------------------------------------------------------------------
if stats["trips"] and insights_tab.open:
    with insights_tab:
        insights = st.empty()  # the answers, or why they are missing
        try:
            ins = cached_insights(version)
        except core.QueryTooSlow as e:
            insights.warning(str(e), icon=":material/hourglass_disabled:")
            ins = None
        if ins is not None:
            with insights.container():
                b1, b2 = st.columns(2)
                with b1:
                    st.subheader("Latest datasource of the two busiest regions")
                    # a static table: its two rows wrap in a narrow column (a grid cut the answer to "La…")
                    st.table(pd.DataFrame(ins["bonus"]["latest_datasource_of_top_regions"],
                                          columns=["region", "datasource", "datetime"]).rename(columns={
                        "region": "Region", "datasource": "Datasource of its latest trip",
                        "datetime": "Latest trip (local time)"}).set_index("Region"))
                with b2:
                    st.subheader("Regions where cheap_mobile appears")
                    cheap = ins["bonus"]["cheap_mobile_regions"]
                    st.write(", ".join(cheap) if cheap else "None.")
                g1, g2 = st.columns(2)
                for column, (name, title) in zip((g1, g2), (("region", "Trips by region"),
                                                             ("datasource", "Trips by datasource"))):
                    df = pd.DataFrame(stats[f"by_{name}"])
                    column.altair_chart(charts.bars(df, name, title), width="stretch", height=charts.bars_height(df))
                st.altair_chart(charts.hours(pd.DataFrame(ins["hours"])), width="stretch")
                st.caption("Over every trip stored: the sidebar's filters apply to the flows. Hours are the trips' "
                           "local time, as written in the files.")

# -- loading ------------------------------------------------------------------------------------------------
# Load data is always drawn (it is cheap): the file input is on the page whichever tab is open.
with load_tab:
    st.subheader("Add CSV files")
    if can_upload:
        # Once every file listed is queued, the list empties (a new key): the Jobs panel follows them,
        # and a file listed after its job ended read as if it were still waiting to load.
        uploads_key = f"uploads_{st.session_state.setdefault('uploads_cleared', 0)}"
        files = st.file_uploader("CSV or gzip-compressed CSV (region, origin_coord, destination_coord, "
                                 "datetime, datasource)", type=["csv", "gz"], accept_multiple_files=True,
                                 key=uploads_key)
        max_bad = st.text_input("Most bad rows a file may have", max_chars=12, key="max_bad",
                                help="A number of rows (like 100) or a percentage (like 1%). Past it, nothing "
                                     "of the file is loaded; below it, good rows load and bad ones are listed.")
        try:
            core.bad_row_limit(max_bad)
            limit_problem = None
        except ValueError as e:  # said as it is typed; files added meanwhile wait for it
            limit_problem = f"Most bad rows a file may have: {str(e).replace('--max-bad-rows must be', 'must be')}."
        if st.session_state.pop("untick_load_again", False):  # it applies to the files added while ticked
            st.session_state["load_again"] = False
        force = st.checkbox("Load again", key="load_again",
                            help="A file with the same bytes, or the same data gzip-compressed or not, as one "
                                 "loaded before is a duplicate and loads "
                                 "nothing. Tick this, then add the file again, to load its trips a second time "
                                 "(it unticks itself once used).")
        submitted = st.session_state.setdefault("submitted_uploads", set())
        refused = st.session_state.setdefault("refused_uploads", {})  # file_id: why, while it is listed
        waiting = []  # files held back until the bad-row limit is corrected
        queued = []
        for f in files or []:
            if f.file_id not in submitted:
                if limit_problem:  # the file waits until the limit is corrected
                    waiting.append(f"{f.name} loads once it is corrected.")
                    continue
                try:
                    job_id = live.submit_upload(f, max_bad, force)
                except core.TripsError as e:
                    refused[f.file_id] = f"{f.name}: {e}"
                else:
                    st.session_state["untick_load_again"] = force
                    queued.append(f"{f.name} (job {job_id})")
                submitted.add(f.file_id)
        if queued:  # one toast for the files added at once (one each covered the page's header)
            more = f" and {len(queued) - 3} more" if len(queued) > 3 else ""
            st.toast(f"Queued: {', '.join(queued[:3])}{more}. The Jobs panel follows them.")
        if files and not waiting and all(f.file_id in submitted and f.file_id not in refused for f in files):
            st.session_state["uploads_cleared"] += 1  # the next run (the job's first event) draws it empty
        problems = ([limit_problem] if limit_problem else []) + waiting + [
            refused[f.file_id] for f in files or [] if f.file_id in refused]
        upload_problems = st.empty()  # one element, drawn on every run (see the flows tab)
        if problems:
            upload_problems.error("\n\n".join(problems))
        st.caption("Each file loads in the background, all or nothing; closing the tab does not stop it. "
                   "For files too big for a browser, use the command line on the server: "
                   "`python -m core ingest FILE.csv.gz` (its jobs appear here too).")
    else:
        st.info("Only some users may load data here; everyone may explore. "
                + (f"{email} is not one of them: ask the operator to add you to TRIPS_UPLOADERS." if email
                   else "Sign in (in the sidebar) if you are one of them." if providers is not None
                   else "Sign-in is not configured on this server: ask its operator."),
                icon=":material/lock:")
    st.subheader("History", help="Updated when a job ends; the Jobs panel follows running jobs live.")
    jobs_list = core.jobs(limit=50)
    history_slot = st.empty()  # the table and the rejects, once there are jobs (see the flows tab)
    if jobs_list:
        with history_slot.container():
            history.table(jobs_list)
            rejects_slot = st.empty()
            if any(history.ended_with_rejects(j) for j in jobs_list):
                with rejects_slot.container():
                    history.rejects_browser(jobs_list)

with jobs_box:
    live.job_status(can_cancel=can_upload, jobs_ended=jobs_ended)  # last: it waits for job events
