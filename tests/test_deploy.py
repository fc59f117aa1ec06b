"""Deployment: the container files as far as this machine can check them (no container engine
runs here: parsed and asserted), and the database roles against the real PostGIS."""
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
import yaml
from sqlalchemy.engine import make_url

import core
from core.db import dispose_all, raw_connection

from conftest import HEADER, row, sql_rows

ROOT = Path(__file__).resolve().parent.parent


# -- containers -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def test_compose_database_service(compose):
    db = compose["services"]["db"]
    assert db["image"].startswith("postgis/postgis:15")
    volume = next(v for v in db["volumes"] if v.endswith("/var/lib/postgresql/data"))
    name = volume.split(":")[0]
    assert name in compose["volumes"], "the data lives in a named volume"
    test = " ".join(db["healthcheck"]["test"])
    assert "pg_isready" in test
    # The init script is mounted as one file: mounting the directory would hide the image's own
    # 10_postgis.sh.
    assert any(v.startswith("./docker/initdb/20-trips-roles.sh:/docker-entrypoint-initdb.d/")
               for v in db["volumes"])


def test_compose_app_service(compose):
    app = compose["services"]["app"]
    build = app["build"] if isinstance(app["build"], dict) else {"context": app["build"]}
    assert build["context"] == "." and build.get("dockerfile", "Dockerfile") == "Dockerfile"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert any(str(p).split(":")[-1] == "8501" for p in app["ports"])
    env = app["environment"]
    for key in ("DATABASE_URL", "LOADER_DATABASE_URL", "READER_DATABASE_URL"):
        assert env[key].startswith("postgresql+psycopg2://") and "@db:5432/" in env[key]


def test_env_example_covers_every_variable_of_compose():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = _env_example()
    assert used, "compose takes its settings from .env"
    assert used <= set(example), f"missing from .env.example: {sorted(used - set(example))}"
    for k, v in example.items():
        if "PASSWORD" in k:
            assert v.startswith("change-me"), f"{k}: placeholders only in the repository"


def test_env_is_ignored_by_git():
    r = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert r.returncode == 0
    r = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=ROOT)
    assert r.returncode == 1


def _dockerfile_instructions() -> list[str]:
    """One string per instruction: comments dropped, continuation lines joined."""
    text = "\n".join(ln for ln in (ROOT / "Dockerfile").read_text().splitlines()
                     if not ln.strip().startswith("#"))
    return [" ".join(ins.split()) for ins in re.sub(r"\\\n", " ", text).splitlines() if ins.strip()]


def test_dockerfile():
    lines = _dockerfile_instructions()
    instr = [ln.split()[0].upper() for ln in lines]
    assert re.match(r"FROM python:3\.11-slim", lines[0])
    req = next(i for i, ln in enumerate(lines) if re.match(r"COPY .*requirements\.txt", ln))
    pip = next(i for i, ln in enumerate(lines) if "pip install" in ln)
    first_source = next(i for i, ln in enumerate(lines)
                        if ln.startswith("COPY") and "requirements.txt" not in ln)
    assert req < pip < first_source, "dependencies cached in their own layer, before the source"
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "runs as a non-root user"
    health = next(ln for ln in lines if ln.startswith("HEALTHCHECK"))
    assert "/_stcore/health" in health and "8501" in health
    assert "EXPOSE" in instr and any(ln == "EXPOSE 8501" for ln in lines)
    entry = next(ln for ln in lines if ln.startswith("ENTRYPOINT"))
    assert "docker/entrypoint.sh" in entry
    assert os.access(ROOT / "docker" / "entrypoint.sh", os.X_OK)


def test_entrypoint_runs_the_cli_commands_that_exist():
    from core.__main__ import main
    text = (ROOT / "docker" / "entrypoint.sh").read_text()
    for cmd in ("migrate", "load-sample-if-empty"):
        assert f"python -m core {cmd}" in text
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
    assert "exec streamlit run dashboard/app.py" in text


def test_migrate_applies_each_file_once_and_warns_when_an_applied_file_changed(db_url):
    """Pass: a fresh database is up to date; an applied file that no longer matches what was
    applied (here: its recorded checksum altered) is named in a warning, not applied again."""
    env = {**os.environ, "DATABASE_URL": db_url}
    out = subprocess.run([sys.executable, "-m", "core", "migrate"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert (out.returncode, out.stderr.strip()) == (0, "schema: up to date")
    with raw_connection(db_url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE schema_migrations SET sha256 = 'edited' WHERE name = '02_schema.sql'")
        conn.commit()
    out = subprocess.run([sys.executable, "-m", "core", "migrate"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0 and "schema: up to date" in out.stderr, out.stderr
    assert "warning: sql/02_schema.sql has changed since it was applied" in out.stderr
    assert core.changed_migrations(db_url) == ["02_schema.sql"]


def test_compose_compact_service_compacts_as_the_owner(compose, write_csv, db_url):
    """Pass: the compact service's own command (compose's $$ unescaped), run here with a short
    interval, folds two files' summary rows into one row per key and keeps going."""
    svc = compose["services"]["compact"]
    assert svc["image"] == compose["services"]["app"]["image"]
    assert svc["depends_on"]["app"]["condition"] == "service_healthy"
    assert svc["environment"]["DATABASE_URL"] == compose["services"]["app"]["environment"]["DATABASE_URL"]
    for minute, name in enumerate(("a.csv", "b.csv")):  # one key, two jobs: two rows until compacted
        assert core.ingest_file(write_csv(HEADER + row(when=f"2018-05-28 09:0{minute}:00"), name),
                                url=db_url).status == "completed"
    daily = "SELECT count(*) FROM daily_counts"
    with raw_connection(db_url) as conn, conn.cursor() as cur:
        cur.execute(daily)
        assert cur.fetchone()[0] == 2
    argv = [part.replace("$$", "$") for part in svc["entrypoint"]]
    # The image's `python` is the one with the dependencies: here, this interpreter.
    env = {**os.environ, "DATABASE_URL": db_url, "TRIPS_COMPACT_SECONDS": "0.2", "PYTHONPATH": str(ROOT),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, rows = time.monotonic() + 60, 2
        while rows != 1 and time.monotonic() < deadline:
            time.sleep(0.3)
            with raw_connection(db_url) as conn, conn.cursor() as cur:
                cur.execute(daily)
                rows = cur.fetchone()[0]
        assert proc.poll() is None, "the service keeps running"
    finally:
        proc.kill()
        out = proc.communicate()[0].decode(errors="replace")
    assert rows == 1, f"the service compacted the summaries; its output: {out[-2000:]}"


def test_dockerignore():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for p in (".venv", ".pgdata", ".git", ".env"):
        assert p in ignored or p + "/" in ignored


def test_streamlit_hardening():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["server"]["enableWebsocketCompression"] is True
    assert cfg["server"]["maxUploadSize"] == 2048
    assert cfg["client"]["showErrorDetails"] == "none"


# -- roles ------------------------------------------------------------------------------------

def _pg_env(url: str) -> dict[str, str]:
    u = make_url(url)
    env = dict(os.environ)
    for var, value in (("PGHOST", u.host or u.query.get("host")), ("PGPORT", u.port or u.query.get("port")),
                       ("PGUSER", u.username), ("PGPASSWORD", u.password)):
        if value:
            env[var] = str(value)
    return env


def _as(url: str, user: str) -> str:
    return make_url(url).set(username=user, password=None).render_as_string(hide_password=False)


@pytest.fixture
def logins(db_url):
    """Login users made by the deployment's own script, with a short timeout for the reader."""
    if not shutil.which("psql"):
        pytest.skip("psql is not installed")
    tag = uuid.uuid4().hex[:8]
    loader, reader = f"trips_t{tag}_load", f"trips_t{tag}_read"
    env = _pg_env(db_url) | {
        "TRIPS_DB": make_url(db_url).database, "TRIPS_LOADER_USER": loader, "TRIPS_READER_USER": reader,
        "TRIPS_READER_STATEMENT_TIMEOUT": "300ms",
    }
    if make_url(db_url).password:  # a server with password authentication
        env |= {"TRIPS_LOADER_PASSWORD": f"pw-{tag}", "TRIPS_READER_PASSWORD": f"pw-{tag}"}
    try:
        subprocess.run([str(ROOT / "docker" / "initdb" / "20-trips-roles.sh")], env=env, check=True)
        subprocess.run([str(ROOT / "docker" / "initdb" / "20-trips-roles.sh")], env=env, check=True)  # idempotent

        def url(user):
            u = make_url(_as(db_url, user))
            if make_url(db_url).password:
                u = u.set(password=f"pw-{tag}")
            return u.render_as_string(hide_password=False)
        yield url(loader), url(reader)
    finally:
        dispose_all()
        with raw_connection(db_url, autocommit=True) as conn, conn.cursor() as cur:
            for role in (loader, reader):
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if cur.fetchone():
                    cur.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
                    cur.execute(f'DROP OWNED BY "{role}"')
                    cur.execute(f'DROP ROLE "{role}"')


def _sample(write_csv) -> str:
    return write_csv(HEADER + row() + row(region="Turin", o=(7.6, 45.0), d=(7.7, 45.1))
                     + row(when="2018-05-29 10:00:00") + "Prague,POINT (x y),POINT (1 2),2018-05-28 09:00:00,a\n")


def test_loader_ingests(logins, write_csv, db_url):
    loader, reader = logins
    res = core.ingest_file(_sample(write_csv), url=loader, max_bad_rows="50%")
    assert res.status == "completed", res.error
    assert (res.rows_loaded, res.rows_rejected) == (3, 1)
    assert core.stats(url=reader)["trips"] == 3
    assert len(core.rejects(res.job_id, url=reader)) == 1
    # The same file again: a duplicate, found and recorded by the loader.
    assert core.ingest_file(_sample(write_csv), url=loader, max_bad_rows="50%").status == "duplicate"
    # The loader manages jobs: cancel, reap, and forgets the names of a file that loaded nothing.
    assert core.cancel_job(res.job_id, url=loader) is None
    core.reap_interrupted(url=loader)
    failed = core.ingest_file(write_csv(HEADER + row(region="Gone") + row(when="bad"), name="gone.csv"), url=loader)
    assert failed.status == "failed"
    assert "Gone" not in {r for r, in sql_rows(db_url, "SELECT name FROM regions")}
    with raw_connection(loader) as conn, conn.cursor() as cur:
        # The attached partition is no longer writable directly.
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(f"INSERT INTO trips_p{res.job_id} SELECT * FROM trips LIMIT 1")


@pytest.mark.parametrize("stmt", [
    "DROP TABLE trips",
    "DROP TABLE jobs CASCADE",
    "TRUNCATE trips",
    "TRUNCATE daily_counts",
    "DELETE FROM trips",
    "DELETE FROM jobs",
    "ALTER TABLE trips ADD COLUMN x int",
    "CREATE TABLE evil (x int)",
    "DROP FUNCTION attach_job_partition(bigint)",
])
def test_loader_cannot_destroy(logins, stmt):
    loader, _ = logins
    with raw_connection(loader) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(stmt)


@pytest.mark.parametrize("stmt", [
    "INSERT INTO regions (name) VALUES ('Nowhere')",
    "INSERT INTO jobs (file_name) VALUES ('x.csv')",
    "UPDATE jobs SET error = 'x'",
    "DELETE FROM daily_counts",
    "CREATE TABLE evil (x int)",
    "SELECT create_job_partition(424242)",
    "DROP TABLE trips",
])
def test_reader_cannot_write(logins, stmt):
    _, reader = logins
    with raw_connection(reader) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(stmt)


def test_reader_reads_everything(logins, write_csv, db_url):
    loader, reader = logins
    core.ingest_file(_sample(write_csv), url=db_url, max_bad_rows="50%")  # the owner still ingests
    assert core.stats(url=reader)["trips"] == 3
    assert core.bonus_answers(url=reader)
    with raw_connection(reader) as conn, conn.cursor() as cur:
        for table in ("trips", "jobs", "job_events", "rejects", "daily_counts", "region_datasources",
                      "flow_counts", "area_days", "trip_times", "trip_times_jobs", "latest_datasource_of_top_regions"):
            cur.execute(f"SELECT count(*) FROM {table}")


def test_reader_statement_timeout_fires(logins):
    _, reader = logins
    with raw_connection(reader) as conn, conn.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "300ms"
        with pytest.raises(psycopg2.errors.QueryCanceled):
            cur.execute("SELECT pg_sleep(3)")


@pytest.mark.parametrize("setting_ms, expected", [("100", "100ms"), ("60000", "300ms"), ("0", "300ms")])
def test_answers_run_under_the_lower_of_the_app_and_role_timeouts(logins, monkeypatch, setting_ms, expected):
    """Pass: an answer's statements run with TRIPS_QUERY_TIMEOUT_MS when it is lower than the
    reader role's statement_timeout (300 ms here), and never above the role's."""
    from sqlalchemy import text as sql_text
    from core.db import engine, snapshot
    _, reader = logins
    monkeypatch.setenv("TRIPS_QUERY_TIMEOUT_MS", setting_ms)
    with pytest.raises(core.QueryTooSlow, match="time limit") as e, snapshot(engine(reader)) as c:
        assert c.execute(sql_text("SHOW statement_timeout")).scalar() == expected
        c.execute(sql_text("SELECT pg_sleep(2)"))
    assert isinstance(e.value.__cause__.orig, psycopg2.errors.QueryCanceled)


def test_group_roles_defaults(db_url):
    with raw_connection(db_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('trips_loader', 'trips_reader')"
                    " ORDER BY 1")
        assert cur.fetchall() == [("trips_loader", False), ("trips_reader", False)]
        cur.execute("SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
                    " WHERE r.rolname = 'trips_reader' AND s.setdatabase = 0")
        assert cur.fetchone()[0] == ["statement_timeout=30s"]


# -- the facade picks the user by the kind of work ----------------------------------------------------

@pytest.fixture
def connected_as(monkeypatch):
    """The database users of the connections opened while it records (pooled ones included)."""
    users: list[str] = []
    real = psycopg2.connect

    def connect(*args, **kwargs):
        conn = real(*args, **kwargs)
        users.append(conn.info.user)
        return conn
    monkeypatch.setattr(psycopg2, "connect", connect)
    return users


def test_facade_works_as_the_loader_and_the_reader(logins, write_csv, db_url, monkeypatch, connected_as):
    loader, reader = logins
    monkeypatch.setenv("DATABASE_URL", db_url)  # the owner: migrations only
    monkeypatch.setenv("LOADER_DATABASE_URL", loader)
    monkeypatch.setenv("READER_DATABASE_URL", reader)
    loader_user, reader_user = make_url(loader).username, make_url(reader).username

    res = core.ingest_file(_sample(write_csv), max_bad_rows="50%")
    assert res.status == "completed", res.error
    assert set(connected_as) == {loader_user}
    assert core.cancel_job(res.job_id) is None and core.reap_interrupted() == []
    assert [j["job_id"] for j in core.jobs()] == [res.job_id]
    assert set(connected_as) == {loader_user}

    connected_as.clear()
    assert core.stats()["trips"] == 3
    assert core.trip_groups(cell="coarse", bucket_hours=24)["total_trips"] == 3
    assert core.weekly_average(region="Prague")["trips"] == 2
    assert core.bonus_answers()["cheap_mobile_regions"] == []
    assert core.data_version()
    assert core.job(res.job_id)["rows_rejected"] == 1 and len(core.rejects(res.job_id)) == 1
    assert set(connected_as) == {reader_user}

    # The reader's URL given for loading: refused, with a message that says why.
    monkeypatch.setenv("LOADER_DATABASE_URL", reader)
    with pytest.raises(core.TripsError, match="may not load data.*permission denied.*trips_loader"):
        core.ingest_file(_sample(write_csv), force=True)
    assert core.stats()["trips"] == 3


def test_job_watcher_listens_as_the_reader_and_reaps_as_the_loader(logins, write_csv, db_url, monkeypatch,
                                                                  connected_as):
    loader, reader = logins
    monkeypatch.setenv("TRIPS_COMPACT_SHARE", "0")  # no compaction after the load: that is the owner's work
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("LOADER_DATABASE_URL", loader)
    monkeypatch.setenv("READER_DATABASE_URL", reader)
    watcher = core.JobWatcher(reap_seconds=0.2)
    try:
        deadline = time.monotonic() + 10
        while watcher.version == 0:  # connected and listening
            assert time.monotonic() < deadline
            time.sleep(0.05)
        seen = watcher.version
        manager = core.JobManager(workers=1)
        job_id = manager.submit(_sample(write_csv), max_bad_rows="50%")
        assert manager.wait(job_id, timeout=60).status == "completed"
        manager.shutdown()
        assert watcher.wait(seen, timeout=10) != seen  # the loader's NOTIFY reached the reader's LISTEN
    finally:
        watcher.stop()
    assert {make_url(reader).username, make_url(loader).username} <= set(connected_as)
    assert set(connected_as) <= {make_url(reader).username, make_url(loader).username}


def test_without_role_urls_everything_uses_database_url(monkeypatch, db_url):
    from core.db import role_url
    for var in ("LOADER_DATABASE_URL", "READER_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert {role_url(r) for r in ("owner", "loader", "reader")} == {db_url}
    monkeypatch.setenv("READER_DATABASE_URL", "postgresql+psycopg2://r@/x")
    assert role_url("reader") == "postgresql+psycopg2://r@/x" and role_url("loader") == db_url
    assert role_url("reader", url="postgresql+psycopg2://explicit@/x") == "postgresql+psycopg2://explicit@/x"


def test_readme_has_the_cloud_sketch():
    """Pass: the README draws the deployment (a mermaid diagram) with each piece the issue names."""
    import re
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```mermaid\n(.*?)```", readme, re.S)
    assert blocks, "no mermaid diagram in the README"
    sketch = blocks[0].lower()
    for piece in ("load balancer", "sticky", "app container", "postgis", "object storage", "ingest worker",
                  "citus"):
        assert piece in sketch, piece


def test_the_database_urls_libpq_parameters_reach_every_connection(db_url):
    """Pass: parameters in a database URL's query (sslmode, options: a cloud database's TLS) apply
    to the raw connections of COPY and LISTEN as to SQLAlchemy's: a setting given by ``options``
    is in force on both."""
    sep = "&" if "?" in db_url else "?"
    with_options = db_url + sep + "options=-c%20work_mem%3D7MB"
    with raw_connection(with_options) as conn, conn.cursor() as cur:
        cur.execute("SHOW work_mem")
        assert cur.fetchone()[0] == "7MB"
    with core.db.engine(with_options).connect() as conn:
        assert conn.exec_driver_sql("SHOW work_mem").scalar() == "7MB"
