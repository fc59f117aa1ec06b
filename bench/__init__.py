"""Benchmarks (make bench, make loadtest): each measures in a scratch database of its own."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def scratch_database(prefix: str = "trips_bench") -> Iterator[str]:
    """The URL of a fresh database on the cluster of DATABASE_URL (or the local one), with the
    schema applied; dropped afterwards."""
    import core
    from core.db import create_database, dispose_all, drop_database

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(None, name)
    try:
        core.migrate(url)
        yield url
    finally:
        dispose_all()
        drop_database(None, name)
