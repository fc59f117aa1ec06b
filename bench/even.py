"""Trips spread evenly, with no hot spots: the worst case for the kept lists (docs/SCALE.md,
"Trips spread evenly"). ``python -m bench.even ROWS OUT.csv [SEED]``.

The sample's three cities (data/trips.csv: the boxes its points fall in), its five datasources,
two years (2018-2019); every origin, destination and second drawn uniformly. Fine groups then
hold one trip or two, medium ones a few: no list of top groups proves a period's answer, unlike
`python -m core generate`'s trips, which gather at hot spots and rush hours as real ones do.
"""
from __future__ import annotations

import sys

import numpy as np

BOXES = {"Prague": (14.31, 14.67, 49.99, 50.13), "Turin": (7.51, 7.78, 44.97, 45.14),
         "Hamburg": (9.78, 10.22, 53.41, 53.66)}
DATASOURCES = ("cheap_mobile", "pt_search_app", "bad_diesel_vehicles", "baba_car", "funny_car")
FIRST, END = np.datetime64("2018-01-01T00:00:00"), np.datetime64("2020-01-01T00:00:00")


def write(path: str, rows: int, seed: int = 1, block: int = 500_000) -> None:
    rng = np.random.default_rng(seed)
    names, boxes = list(BOXES), np.array(list(BOXES.values()))
    seconds = int((END - FIRST) / np.timedelta64(1, "s"))
    with open(path, "w") as f:
        f.write("region,origin_coord,destination_coord,datetime,datasource\n")
        for start in range(0, rows, block):
            n = min(block, rows - start)
            region, source = rng.integers(0, len(names), n), rng.integers(0, len(DATASOURCES), n)
            b = boxes[region]
            (ox, oy), (dx, dy) = _points(rng, b), _points(rng, b)
            when = (FIRST + rng.integers(0, seconds, n).astype("timedelta64[s]")).astype(str)
            f.write("".join(
                f"{names[r]},POINT ({x!r} {y!r}),POINT ({u!r} {v!r}),{t.replace('T', ' ')},{DATASOURCES[s]}\n"
                for r, x, y, u, v, t, s in zip(region.tolist(), ox.tolist(), oy.tolist(), dx.tolist(), dy.tolist(),
                                               when, source.tolist())))


def _points(rng: np.random.Generator, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of a point drawn uniformly in each box (west, east, south, north)."""
    lon = boxes[:, 0] + rng.random(len(boxes)) * (boxes[:, 1] - boxes[:, 0])
    return lon, boxes[:, 2] + rng.random(len(boxes)) * (boxes[:, 3] - boxes[:, 2])


if __name__ == "__main__":
    write(sys.argv[2], int(sys.argv[1]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
