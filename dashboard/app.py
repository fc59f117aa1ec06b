"""The trips dashboard (first page: what is loaded). Calls only the core facade."""
import streamlit as st

import core

st.set_page_config(page_title="Trips", layout="wide")
st.title("Trips")
try:
    s = core.stats()
except Exception as e:  # the database may be down
    st.error(f"Cannot reach the database: {e}")
    st.stop()
c1, c2, c3 = st.columns(3)
c1.metric("Trips", f"{s['trips']:,}")
c2.metric("Regions", len(s["regions"]))
c3.metric("Datasources", len(s["datasources"]))
if s["trips"]:
    st.caption(f"From {s['first_datetime']} to {s['last_datetime']} (local time)")
    st.dataframe(s["by_region"], use_container_width=True)
else:
    st.info("No trips yet. Load a CSV with `python -m core ingest FILE.csv`.")
