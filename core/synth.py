"""Synthetic trips in the input format, for demos and benchmarks.

Six cities, each with hot spots (a station, a centre, an airport...) that draw most trips; a daily
rhythm (morning and evening peaks, quiet nights) and a weekly one (fewer trips at weekends);
datasources with different shares. Deterministic for a seed. Written in blocks with pyarrow, so
10 million rows take a minute or two and little memory.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

CITIES = {  # name: (lon, lat, spread in degrees, weight)
    "Prague": (14.4378, 50.0755, 0.08, 0.22),
    "Turin": (7.6869, 45.0703, 0.06, 0.18),
    "Hamburg": (9.9937, 53.5511, 0.09, 0.2),
    "Berlin": (13.4050, 52.5200, 0.12, 0.18),
    "Vienna": (16.3738, 48.2082, 0.08, 0.12),
    "Milan": (9.1900, 45.4642, 0.07, 0.10),
}
DATASOURCES = ["cheap_mobile", "pt_search_app", "bad_diesel_vehicles", "baba_car", "funny_car"]
_SOURCE_WEIGHTS = [0.33, 0.2, 0.18, 0.16, 0.13]
# Share of trips by hour of day: night low, peaks at 8 and 17.
_HOURS = np.array([1, 0.6, 0.4, 0.3, 0.4, 1, 3, 6, 8, 6, 4, 4, 4.5, 4.5, 4, 4.5, 6, 8, 7, 5, 4, 3, 2, 1.5])
_DAY_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.05, 1.15, 0.75, 0.6])  # Monday .. Sunday
START = np.datetime64("2018-01-01")
DAYS = 913  # two and a half years


def _hotspots(rng: np.random.Generator):
    spots = {}
    for name, (lon, lat, spread, _) in CITIES.items():
        k = 8
        centres = np.column_stack([rng.normal(lon, spread / 2, k), rng.normal(lat, spread / 3, k)])
        weights = rng.dirichlet(np.ones(k) * 0.8)
        spots[name] = (centres, weights, spread)
    return spots


def _block(rng, spots, n: int) -> pa.Table:
    names = list(CITIES)
    city_w = np.array([CITIES[c][3] for c in names])
    city = rng.choice(len(names), size=n, p=city_w / city_w.sum())
    o = np.empty((n, 2))
    d = np.empty((n, 2))
    for i, name in enumerate(names):
        idx = np.flatnonzero(city == i)
        if not len(idx):
            continue
        centres, weights, spread = spots[name]
        for pts in (o, d):
            # 80 % near a hot spot, 20 % anywhere in the city
            hot = rng.random(len(idx)) < 0.8
            spot = rng.choice(len(weights), size=len(idx), p=weights)
            near = centres[spot] + rng.normal(0, spread / 15, (len(idx), 2))
            lon, lat = CITIES[name][0], CITIES[name][1]
            wide = np.column_stack([rng.normal(lon, spread, len(idx)), rng.normal(lat, spread / 1.5, len(idx))])
            pts[idx] = np.where(hot[:, None], near, wide)
    day_of_week = (np.arange(DAYS) + 0) % 7  # 2018-01-01 was a Monday
    day_p = _DAY_WEIGHTS[day_of_week] * np.linspace(0.8, 1.2, DAYS)  # gentle growth
    day = rng.choice(DAYS, size=n, p=day_p / day_p.sum())
    hour = rng.choice(24, size=n, p=_HOURS / _HOURS.sum())
    seconds = rng.integers(0, 3600, size=n)
    ts = START + day.astype("timedelta64[D]") + (hour * 3600 + seconds).astype("timedelta64[s]")
    source = rng.choice(len(DATASOURCES), size=n, p=_SOURCE_WEIGHTS)

    def wkt(p):
        x = pc.cast(pa.array(np.round(p[:, 0], 7)), pa.string())
        y = pc.cast(pa.array(np.round(p[:, 1], 7)), pa.string())
        return pc.binary_join_element_wise("POINT (", x, " ", y, ")", "")

    when = pc.strftime(pa.array(ts.astype("datetime64[s]")), format="%Y-%m-%d %H:%M:%S")
    return pa.table({
        "region": pa.array(np.array(names, dtype=object)[city]),
        "origin_coord": wkt(o),
        "destination_coord": wkt(d),
        "datetime": when,
        "datasource": pa.array(np.array(DATASOURCES, dtype=object)[source]),
    })


def generate(path: str, rows: int, seed: int = 42, block: int = 500_000) -> int:
    """Write ``rows`` synthetic trips to ``path`` (CSV with header); returns rows written."""
    rng = np.random.default_rng(seed)
    spots = _hotspots(rng)
    written = 0
    opts = pacsv.WriteOptions(include_header=True, quoting_style="none")
    schema = _block(rng, spots, 1).schema
    with pacsv.CSVWriter(path, schema, write_options=opts) as w:
        while written < rows:
            n = min(block, rows - written)
            w.write_table(_block(rng, spots, n))
            written += n
    return written
