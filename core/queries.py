"""Named SQL queries, loaded from sql/queries/*.sql.

Each block starts with a line ``-- name: some_query`` followed by its SQL; parameters are bound
SQLAlchemy-style (``:region``). Python refers to queries by name only. Lines that are comments
are left out of the text sent: a ``:name`` in a comment would otherwise be bound there too (a
value with a line break would end the comment), and a list of cells written into it twice.
"""
from __future__ import annotations

import re
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.sql.elements import TextClause

from .config import SQL_DIR

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@lru_cache(maxsize=None)
def _all() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((SQL_DIR / "queries").glob("*.sql")):
        parts = _NAME.split(path.read_text())
        for name, body in zip(parts[1::2], parts[2::2]):
            if name in found:
                raise ValueError(f"query {name!r} is defined twice ({path.name})")
            found[name] = "\n".join(line for line in body.strip().splitlines()
                                    if not line.lstrip().startswith("--")).rstrip(";")
    return found


def sql(name: str) -> str:
    """The SQL text of a named query."""
    try:
        return _all()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in sql/queries/") from None


def query(name: str) -> TextClause:
    """The named query as a SQLAlchemy ``text()`` clause, ready for bound parameters."""
    return text(sql(name))


_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=None)
def pg(name: str) -> str:
    """The named query in psycopg2's parameter style (``%(name)s``), for raw connections."""
    return _PARAM.sub(r"%(\1)s", sql(name).replace("%", "%%"))
