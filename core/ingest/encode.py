"""Good rows -> PostgreSQL binary COPY bytes for the trips table, built with numpy.

Every row has the same width: 8 fields (job_id int4, region_id int2, datasource_id int2,
ts int8, origin and destination as 25-byte EWKB points with SRID 4326, o_cell and d_cell int8).
"""
from __future__ import annotations

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
_EWKB_POINT_SRID = 0x20000001
_SRID = 4326

_ROW = np.dtype([
    ("nfields", ">i2"),
    ("job_len", ">i4"), ("job", ">i4"),
    ("region_len", ">i4"), ("region", ">i2"),
    ("source_len", ">i4"), ("source", ">i2"),
    ("ts_len", ">i4"), ("ts", ">i8"),
    ("o_len", ">i4"), ("o_order", "u1"), ("o_type", "<u4"), ("o_srid", "<u4"), ("o_x", "<f8"), ("o_y", "<f8"),
    ("d_len", ">i4"), ("d_order", "u1"), ("d_type", "<u4"), ("d_srid", "<u4"), ("d_x", "<f8"), ("d_y", "<f8"),
    ("oc_len", ">i4"), ("oc", ">i8"),
    ("dc_len", ">i4"), ("dc", ">i8"),
])
_CONST = {
    "nfields": 8, "job_len": 4, "region_len": 2, "source_len": 2, "ts_len": 8,
    "o_len": 25, "o_order": 1, "o_type": _EWKB_POINT_SRID, "o_srid": _SRID,
    "d_len": 25, "d_order": 1, "d_type": _EWKB_POINT_SRID, "d_srid": _SRID,
    "oc_len": 8, "dc_len": 8,
}


def encode_rows(job_id: int, region_ids: np.ndarray, source_ids: np.ndarray, ts_us: np.ndarray,
                o_lon: np.ndarray, o_lat: np.ndarray, d_lon: np.ndarray, d_lat: np.ndarray,
                o_cell: np.ndarray, d_cell: np.ndarray) -> bytes:
    """The binary COPY body (no header or trailer) of one batch of rows."""
    out = np.empty(len(ts_us), dtype=_ROW)
    for name, value in _CONST.items():
        out[name] = value
    out["job"] = job_id
    out["region"] = region_ids
    out["source"] = source_ids
    out["ts"] = ts_us
    out["o_x"], out["o_y"], out["d_x"], out["d_y"] = o_lon, o_lat, d_lon, d_lat
    out["oc"] = o_cell
    out["dc"] = d_cell
    return out.tobytes()


_BINARY_TYPES = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "bool": "u1", "date": ">i4"}


def encode_columns(columns: list[tuple[np.ndarray, str]]) -> bytes:
    """The binary COPY rows (no header or trailer) of NOT NULL columns given as (values, type) with
    type one of int2, int4, int8, bool, date (days since 2000-01-01)."""
    n = len(columns[0][0]) if columns else 0
    fields = [("nfields", ">i2")]
    for i, (_, kind) in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", _BINARY_TYPES[kind])]
    out = np.empty(n, dtype=np.dtype(fields))
    out["nfields"] = len(columns)
    for i, (values, kind) in enumerate(columns):
        out[f"l{i}"] = np.dtype(_BINARY_TYPES[kind]).itemsize
        out[f"v{i}"] = values
    return out.tobytes()
