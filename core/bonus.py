"""The bonus questions (views in sql/03_bonus_queries.sql)."""
from __future__ import annotations

from sqlalchemy import Engine

from .db import snapshot
from .queries import query


def bonus_answers(eng: Engine) -> dict:
    with snapshot(eng) as c:
        latest = [{"region": r.region, "datasource": r.datasource, "datetime": r.datetime.isoformat(sep=" ")}
                  for r in c.execute(query("bonus_latest_datasource_of_top_regions"))]
        cheap = [r.region for r in c.execute(query("bonus_cheap_mobile_regions"))]
    return {"latest_datasource_of_top_regions": latest, "cheap_mobile_regions": cheap}
