"""The filters every analytics answer shares, checked once (hostile values are data, never SQL)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from .errors import InvalidFilter

DAYS = ("all", "weekdays", "weekend")


def _date(value, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        text = str(value).strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, re.ASCII):  # not 20180528 nor 2018-W22-1
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidFilter(f"{name} must be a date like 2018-05-28, not {str(value)[:40]!r}") from None


# Invisible characters a name may carry at its ends (a byte order mark from files joined together,
# zero-width spaces and direction marks from copied text), trimmed with the white space: "\ufeffPrague"
# is Prague and "\u200b" alone is empty. Within a name they stay.
INVISIBLE = "\ufeff\u200b\u200e\u200f\u2060"


def stored_name(value) -> str:
    """A region or datasource name as ingest stores it: in Unicode's composed form (NFC: "Zu\u0308rich",
    as macOS writes it, is "Z\u00fcrich"), without white space or invisible characters at its ends
    (core/ingest/validate.py takes a file's names by the same rule)."""
    return unicodedata.normalize("NFC", str(value)).strip().strip(INVISIBLE).strip()


def _names(values, name: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out = [stored_name(v) for v in values]
    if any(len(v) > 1000 for v in out):
        raise InvalidFilter(f"a {name} name is longer than 1000 characters")
    return out or None


@dataclass(frozen=True)
class Filters:
    """regions / datasources (names; None = all), date_from / date_to (inclusive dates),
    days ('all', 'weekdays', 'weekend'), hours (hours of the day 0-23; None = all)."""

    regions: tuple[str, ...] | None = None
    datasources: tuple[str, ...] | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    days: str = "all"
    hours: tuple[int, ...] | None = None

    @classmethod
    def make(cls, regions=None, datasources=None, date_from=None, date_to=None, days="all",
             hours=None) -> "Filters":
        regions, datasources = _names(regions, "region"), _names(datasources, "datasource")
        date_from, date_to = _date(date_from, "from"), _date(date_to, "to")
        if date_from and date_to and date_from > date_to:
            raise InvalidFilter(f"from ({date_from}) is after to ({date_to})")
        if days not in DAYS:
            raise InvalidFilter(f"days must be one of {', '.join(DAYS)}, not {str(days)[:40]!r}")
        if hours is not None:
            try:
                hours = sorted({int(h) for h in hours})
            except (TypeError, ValueError):
                raise InvalidFilter("hours must be whole hours of the day, 0 to 23") from None
            if any(h < 0 or h > 23 for h in hours):
                raise InvalidFilter("hours must be whole hours of the day, 0 to 23")
            if len(hours) == 24:
                hours = None
        return cls(tuple(regions) if regions else None, tuple(datasources) if datasources else None,
                   date_from, date_to, days, tuple(hours) if hours is not None else None)

    @property
    def dated(self) -> bool:
        """Whether a date range is asked for (either end)."""
        return self.date_from is not None or self.date_to is not None

    def params(self) -> dict:
        """Bound parameters of the SQL in sql/queries/ (None means no filter)."""
        return {
            "regions": list(self.regions) if self.regions else None,
            "datasources": list(self.datasources) if self.datasources else None,
            "date_from": self.date_from, "date_to": self.date_to,
            "weekend": None if self.days == "all" else self.days == "weekend",
            "hours": list(self.hours) if self.hours is not None else None,
        }
