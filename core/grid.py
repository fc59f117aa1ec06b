"""The hierarchical grid that groups trip ends into cells.

Cells are squares of longitude/latitude, nested 4 x 4 from one level to the next:

=======  ===========  ==================================================
level    size (deg)   across (north-south; east-west is that x cos(lat))
=======  ===========  ==================================================
fine     0.005        0.56 km  (0.39 km east-west at 45 deg N)
medium   0.02         2.2 km
coarse   0.08         8.9 km
=======  ===========  ==================================================

Why not H3: a box query must be exact, and with axis-aligned cells "is this cell wholly inside the
box" is two comparisons, in Python and SQL alike; parents are integer divisions, so one stored
fine cell per trip end serves every level, and no extension is needed in PostgreSQL. The cost is
that cells narrow east-west with latitude, which matters little within a city.

A cell id is ``ix * 100000 + iy`` with ``ix = floor((lon + 180) / size)`` and
``iy = floor((lat + 90) / size)`` at that level's size, as if computed exactly: a point on a
cell's west or south edge is in that cell, e.g. latitude 50.08 in the cells north of it, although
(50.08 + 90) / 0.005 is 28015.999999999996 in floating point. Fine indices are taken from
``(lon + 180) * 200`` with a margin of 1e-7 of a cell (5e-10 degrees, below the box answers'
tolerance, core/weekly.py): exact for coordinates written with up to 9 decimals. The grid's own
east and north edges (longitude 180, latitude 90) belong to the last column and row, so that
every cell and its centre lie on the map.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

FINE_PER_DEG = 200
FINE_DEG = 1 / FINE_PER_DEG  # 0.005
_SNAP = 1e-7  # of a fine cell: float error of (lon + 180) * 200 is below 1e-11
LEVELS = {"fine": 0, "medium": 1, "coarse": 2}
SIZE_DEG = {name: FINE_DEG * 4**lvl for name, lvl in LEVELS.items()}
_STRIDE = 100_000


def fine_cells(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Fine cell ids (int64) of points given in degrees."""
    import numpy as np  # (the ingest's; answers and the CLI's other commands need only the rest)
    # Longitude 180 and latitude 90 (the grid's east and north edges) go in the last cell.
    ix = np.minimum(np.floor((lon + 180.0) * FINE_PER_DEG + _SNAP).astype(np.int64), 360 * FINE_PER_DEG - 1)
    iy = np.minimum(np.floor((lat + 90.0) * FINE_PER_DEG + _SNAP).astype(np.int64), 180 * FINE_PER_DEG - 1)
    return ix * _STRIDE + iy


def parent(fine_cell_id: int, level: str) -> int:
    """The cell of ``level`` that contains a fine cell (same as SQL ``grid_parent``)."""
    k = 4 ** LEVELS[level]
    return (fine_cell_id // _STRIDE // k) * _STRIDE + (fine_cell_id % _STRIDE) // k


def fine_cells_of(cell_id: int, level: str) -> list[int]:
    """The fine cells that make up a cell of ``level`` (itself for a fine cell; 16 for a medium one,
    256 for a coarse one)."""
    k = 4 ** LEVELS[level]
    ix, iy = split(cell_id)
    return [join(ix * k + i, iy * k + j) for i in range(k) for j in range(k)]


def split(cell_id: int) -> tuple[int, int]:
    """(ix, iy) of a cell id."""
    return cell_id // _STRIDE, cell_id % _STRIDE


def join(ix: int, iy: int) -> int:
    return ix * _STRIDE + iy


def centre(cell_id: int, level: str) -> tuple[float, float]:
    """(lon, lat) in degrees of the centre of a cell of ``level``."""
    size = SIZE_DEG[level]
    ix, iy = split(cell_id)
    return round((ix + 0.5) * size - 180.0, 7), round((iy + 0.5) * size - 90.0, 7)


def bounds(cell_id: int, level: str) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of a cell of ``level``."""
    size = SIZE_DEG[level]
    ix, iy = split(cell_id)
    return ix * size - 180.0, iy * size - 90.0, (ix + 1) * size - 180.0, (iy + 1) * size - 90.0


def label(cell_id: int, level: str) -> str:
    """A readable, stable id: ``medium:9722:6952``."""
    ix, iy = split(cell_id)
    return f"{level}:{ix}:{iy}"
