# The trips dashboard: Streamlit on port 8501. `docker compose up --build` runs it with PostGIS.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_HEADLESS=true \
    PYTHONPATH=/app

WORKDIR /app

# Dependencies in their own layer: rebuilt only when requirements.txt changes. Only the runtime
# part (the lines above "# Tests"). The wheels of psycopg2-binary, pyarrow, numpy and geopandas
# (shapely, pyogrio, pyproj) bundle their C libraries: nothing to compile, no apt packages.
COPY requirements.txt .
RUN sed '/^# Tests/,$d' requirements.txt > /tmp/runtime.txt \
 && pip install -r /tmp/runtime.txt \
 && rm /tmp/runtime.txt

# A user without privileges, and no write access to the code.
RUN groupadd --system --gid 10001 trips \
 && useradd --system --uid 10001 --gid trips --home-dir /home/trips --create-home trips

COPY core/ core/
COPY sql/ sql/
COPY dashboard/ dashboard/
COPY data/ data/
COPY .streamlit/ .streamlit/
COPY docker/entrypoint.sh docker/entrypoint.sh

USER trips

EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["docker/entrypoint.sh"]
