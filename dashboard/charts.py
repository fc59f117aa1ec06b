"""The dashboard's Altair charts: pure functions of data (no Streamlit)."""
from __future__ import annotations

import altair as alt
import pandas as pd


def weekly(series: dict[str, dict], names: list[str] | None = None) -> alt.LayerChart:
    """Trips per week of each area, with its average dashed; ``names``: every area that may be
    drawn, so that an area keeps its colour whichever others are shown."""
    rows = [{"week": p["week_start"], "trips": p["trips"], "area": name}
            for name, r in series.items() for p in r["per_week"]]
    avg = [{"area": name, "average": r["weekly_average"]} for name, r in series.items()]
    df, av = pd.DataFrame(rows), pd.DataFrame(avg)
    df["week"] = pd.to_datetime(df["week"])
    colour = alt.Color("area:N", title=None, legend=alt.Legend(orient="top", values=list(series)),
                       # tableau10: ten distinct hues (Streamlit's default pairs light and dark shades)
                       scale=alt.Scale(domain=names or alt.Undefined, scheme="tableau10"))
    # A tick on every week's Monday while they fit (Vega's own ticks fall on days or Sundays there);
    # months past that.
    weeks = sorted(df["week"].unique())
    axis = (alt.Axis(values=[alt.DateTime(year=w.year, month=w.month, date=w.day) for w in pd.DatetimeIndex(weeks)],
                     format="%d %b %Y", labelAngle=-40)
            if len(weeks) <= 16 else alt.Axis(format="%b %Y"))
    lines = alt.Chart(df).mark_line(point=len(df) < 120).encode(
        x=alt.X("week:T", title="Week (starting Monday)", axis=axis),
        y=alt.Y("trips:Q", title="Trips per week", axis=alt.Axis(format=",d", tickMinStep=1)),
        color=colour, tooltip=[alt.Tooltip("area:N"), alt.Tooltip("week:T", title="Week of"),
                               alt.Tooltip("trips:Q", format=",")])
    rules = alt.Chart(av).mark_rule(strokeDash=[6, 4], size=2).encode(
        y="average:Q", color=colour, tooltip=[alt.Tooltip("area:N"), alt.Tooltip("average:Q", format=",.1f")])
    return (lines + rules).properties(height=320)


def partial_weeks(r: dict) -> str:
    """Which of the period's first and last weeks it covers only in part (they count whole)."""
    start, end = pd.Timestamp(r["from"]), pd.Timestamp(r["to"])
    parts = ([f"the first week (from {start:%a %d %b})"] if start.weekday() != 0 else []) + \
            ([f"the last week (up to {end:%a %d %b})"] if end.weekday() != 6 else [])
    return (f"Only part of {' and of '.join(parts)} is in the period: expect fewer trips there (the average "
            "counts every week whole). " if parts else "")


BAR_PX = 26  # a bar's height, with the space between it and the next


def bars(df: pd.DataFrame, name: str, title: str) -> alt.Chart:
    """Trips by ``name``, one bar a row, busiest first: every label shows."""
    return alt.Chart(df).mark_bar().encode(
        y=alt.Y(f"{name}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200)),
        x=alt.X("trips:Q", title="Trips"), tooltip=[name, alt.Tooltip("trips:Q", format=",")],
    ).properties(title=title, height=BAR_PX * len(df))


def bars_height(df: pd.DataFrame) -> int:
    """The pixels a bars chart needs: BAR_PX a bar, and its title and axis (Streamlit sizes the
    chart's box; with a step height instead, Vega warns that it drops the fit to it)."""
    return BAR_PX * len(df) + 140  # (the title and the axis take about 130 px of the box)


def hours(df: pd.DataFrame) -> alt.Chart:
    """Trips by hour of the day."""
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("hour:O", title="Hour of the day (local time)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("trips:Q", title="Trips"), tooltip=["hour", alt.Tooltip("trips:Q", format=",")],
    ).properties(title="Trips by hour of day", height=260)
