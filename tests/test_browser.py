"""End to end in a real browser (Debian's Chromium driven by Playwright): upload a CSV through
the page, watch the job advance and finish without reloading, see the map and the weekly chart.
Everything live comes over Streamlit's websocket, pushed by the server: while the job runs the page
sends nothing (no timer-driven rerun requests) and repeats no HTTP request to the app.
Screenshots go to artifacts/."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import core
from conftest import ROOT
from core.synth import generate

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "artifacts"
ROWS = 600_000  # a job of several seconds, so that its progress shows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(db_url):
    yield from _serve(db_url)


def _serve(db_url, **settings):
    """The app on a free port, serving ``db_url`` (with extra environment ``settings``)."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "TRIPS_LIVE_UPDATES": "1", **settings}
    for var in ("LOADER_DATABASE_URL", "READER_DATABASE_URL"):
        env.pop(var, None)
    log = tempfile.TemporaryFile()  # read by nobody while it runs: a pipe could fill and block it
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
                             "--server.port", str(port), "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "streamlit did not start"
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_upload_progress_map_and_chart_live_in_a_real_browser(app_url, db_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: make browser"
    SHOTS.mkdir(exist_ok=True)
    csv_path = tmp_path / "upload_trips.csv"
    generate(str(csv_path), ROWS, seed=4)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        requests: list[tuple[float, str, str]] = []
        page.on("request", lambda r: requests.append((time.monotonic(), r.method, r.url)))
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        sent: list[float] = []  # messages the page sends over the websocket (a rerun request is one)
        page.on("websocket", lambda ws: ws.on("framesent", lambda _: sent.append(time.monotonic())))
        page.goto(app_url)
        expect(page.get_by_text("No trips yet")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(SHOTS / "empty.png"))

        # The file input is on the page whichever tab is open (the answers' tabs are drawn when opened).
        page.locator("input[type=file]").set_input_files(str(csv_path))
        started = time.monotonic()
        # Progress appears and advances, pushed by the server.
        expect(page.get_by_text("rows read").first).to_be_visible(timeout=60_000)
        expect(page.get_by_role("button", name="Cancel")).to_be_visible()
        page.screenshot(path=str(SHOTS / "progress.png"))
        # The final state arrives without a reload.
        try:
            expect(page.get_by_text(f"loaded: {ROWS:,} trips")).to_be_visible(timeout=180_000)
        finally:
            page.screenshot(path=str(SHOTS / "final.png"), full_page=True)
        finished = time.monotonic()
        expect(page.get_by_role("button", name="Cancel")).to_have_count(0, timeout=10_000)
        job = core.jobs(limit=1, url=db_url)[0]
        assert (job["status"], job["rows_loaded"]) == ("completed", ROWS)

        # Requests to the app itself (the basemap is fetched from its CDN whenever a map draws).
        during = [(m, u) for t, m, u in requests if started + 1 < t < finished and u.startswith(app_url)]
        repeated = {x for x in during if during.count(x) > 1}
        assert not repeated, f"HTTP requests repeated while the job ran: {sorted(repeated)[:5]}"
        # Pushed, not pulled: while the job runs the page asks for nothing (no timer-driven reruns,
        # as st.fragment(run_every=...) would send); the server's messages come unasked.
        assert sent, "no websocket message seen at all (the listener would prove nothing)"
        asked = [t for t in sent if started + 1 < t < finished]
        print(f"job ran {finished - started:.1f} s; page sent {len(asked)} websocket messages meanwhile")
        assert len(asked) <= 1, f"the page sent {len(asked)} messages while the job ran (polling?)"

        expect(page.get_by_text(f"{ROWS:,}").first).to_be_visible(timeout=30_000)  # the header metric
        page.get_by_role("tab", name="Flows").click()
        expect(page.locator("canvas").first).to_be_visible(timeout=30_000)
        time.sleep(2)
        page.screenshot(path=str(SHOTS / "flows.png"))
        page.get_by_role("tab", name="Weekly averages").click()
        expect(page.locator(".vega-embed").first).to_be_visible(timeout=30_000)
        time.sleep(1)
        page.screenshot(path=str(SHOTS / "weekly.png"), full_page=True)
        page.get_by_role("tab", name="Insights").click()
        time.sleep(1)
        page.screenshot(path=str(SHOTS / "insights.png"), full_page=True)
        assert not page.get_by_text("Traceback").count()
        # Nothing but the base map comes from elsewhere (the page's icon came from Google's font servers:
        # on a closed network, an error on every rerun); Vega has nothing to warn of.
        elsewhere = {u.split("/")[2] for _, _, u in requests if not u.startswith(app_url) and u.startswith("http")}
        assert all(host.endswith("basemaps.cartocdn.com") for host in elsewhere), elsewhere
        assert not [m for m in console if "Dropping" in m], console

        # A load by the CLI shows live, with its Cancel button, which goes with it: it stayed,
        # faded and clickable, while the page waited for the next job event.
        cli = subprocess.Popen([sys.executable, "-m", "core", "ingest", str(csv_path), "--force"], cwd=ROOT,
                               env={**os.environ, "DATABASE_URL": db_url}, stderr=subprocess.DEVNULL)
        expect(page.get_by_role("button", name="Cancel")).to_be_visible(timeout=30_000)
        assert cli.wait(timeout=120) == 0
        expect(page.get_by_text(f"{2 * ROWS:,}").first).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
        browser.close()


def test_an_answer_that_empties_leaves_nothing_of_the_previous_one(app_url, db_url, write_csv):
    """Pass: the page's run never ends (the Jobs panel waits for job events), so an element the
    new run does not draw would linger, faded, below it: after Weekend leaves no trip, the flows tab
    shows only "No trips match", without the previous answer's metrics and map."""
    from playwright.sync_api import expect, sync_playwright

    from conftest import HEADER, row
    rows = "".join(row(region="Milan", when=f"2020-07-01 00:{m:02d}:00") for m in range(5))  # a Wednesday
    assert core.ingest_file(write_csv(HEADER + rows), url=db_url).status == "completed"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{app_url}/?region=Milan")
        expect(page.get_by_text("Trips matching", exact=True)).to_be_visible(timeout=60_000)
        page.get_by_text("Weekend", exact=True).first.click()
        expect(page.get_by_text("No trips match")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1500)
        assert page.get_by_text("Trips matching").count() == 0
        browser.close()


def test_no_element_of_a_previous_answer_lingers_when_the_next_draws_less(db_url, write_csv):
    """Pass: the page's run never ends (the Jobs panel waits for job events), so whatever a run
    does not draw again would stay on the page, faded (Streamlit's stale elements). After a view
    with more elements (six regions' weekly averages; the question before counting raw trips; one
    origin's flows with "Show all origins") the
    next view with fewer leaves no stale element."""
    from playwright.sync_api import expect, sync_playwright

    from conftest import HEADER, row
    rows = "".join(row(region=r, when=f"2020-07-01 0{i}:00:00")
                   for i, r in enumerate(("Milan", "Turin", "Berlin", "Prague", "Vienna", "Hamburg")))
    assert core.ingest_file(write_csv(HEADER + rows), url=db_url).status == "completed"
    server = _serve(db_url, TRIPS_RAW_GROUPS_ASK="1", TRIPS_COMPACT_SHARE="0")  # the question needs raw counts
    url = next(server)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            # Faded leftovers on screen (an empty slot, stEmpty, shows nothing whatever its state;
            # the tabs not open keep what they showed last, out of sight, until they are opened).
            stale = page.locator('[data-stale="true"]:not(:has([data-testid="stEmpty"])):visible')
            page.goto(f"{url}/?cell=fine")
            # The button (the warning above it names it too, in its own words).
            expect(page.get_by_role("button", name="Count anyway")).to_be_visible(timeout=60_000)
            page.get_by_text("2 km", exact=True).first.click()  # the question goes, the answer comes
            expect(page.get_by_text("Trips matching", exact=True)).to_be_visible(timeout=30_000)
            expect(stale).to_have_count(0, timeout=15_000)  # a leftover stays stale: this would time out
            assert page.get_by_text("count anyway").count() == 0  # neither the button nor the warning
            page.get_by_role("tab", name="Weekly averages").click()
            expect(page.get_by_text("Hamburg").first).to_be_visible(timeout=30_000)
            page.locator('[data-testid="stMultiSelect"]').first.click()  # one region: one average, not six
            page.keyboard.type("Turin")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            labels = page.locator('[data-testid="stMetricLabel"]')
            expect(labels.filter(has_text="Hamburg")).to_have_count(0, timeout=30_000)  # nor a faded copy
            expect(labels.filter(has_text="Turin")).to_have_count(1)
            expect(stale).to_have_count(0, timeout=15_000)
            # One origin's flows (a link, as after a click on its column), then all origins again.
            origin = core.trip_groups(cell="coarse", url=db_url)["groups"][0]["origin_cell"]
            page.goto(f"{url}/?cell=coarse&origin={origin}")
            page.get_by_text("Show all origins").click(timeout=60_000)
            expect(page.get_by_text("Click a column to see only its flows", exact=False)).to_be_visible(timeout=30_000)
            expect(stale).to_have_count(0, timeout=15_000)
            browser.close()
    finally:
        next(server, None)



def test_the_page_compacts_the_loads_made_before_it_started(db_url, tmp_path):
    """Pass: a file loaded by the CLI while no page ran is compacted once a page opens (the page's
    groups then read kept rows), as loads made while it runs are; before that, nothing compacts it."""
    from playwright.sync_api import sync_playwright

    generate(str(tmp_path / "before.csv"), 3_000, seed=61)
    assert core.ingest_file(str(tmp_path / "before.csv"), url=db_url).status == "completed"
    assert core.compaction_due(url=db_url)
    assert core.trip_groups(cell="coarse", url=db_url)["source"] == "summary"
    server = _serve(db_url)
    url = next(server)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(url)
            deadline = time.monotonic() + 120
            while core.compaction_due(url=db_url):
                assert time.monotonic() < deadline, "the page did not compact the earlier load"
                time.sleep(0.5)
            browser.close()
        res = core.trip_groups(cell="coarse", url=db_url)
        assert res["source"] == "kept" and res["total_trips"] == 3_000
    finally:
        next(server, None)


def test_the_browsers_back_button_returns_to_the_previous_view(app_url, db_url, write_csv):
    """Pass: the view lives in the URL; Back after choosing Weekend returns to all days (the URL
    stays as Back made it and the answer follows), Forward brings Weekend back."""
    from playwright.sync_api import expect, sync_playwright

    from conftest import HEADER, row
    rows = row(when="2020-07-01 09:00:00") * 3 + row(when="2020-07-04 09:00:00")  # Wednesday x3, Saturday
    assert core.ingest_file(write_csv(HEADER + rows), url=db_url).status == "completed"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        matching = page.locator('[data-testid="stMetric"]', has_text="Trips matching")
        page.goto(f"{app_url}/?cell=coarse")
        expect(matching).to_contain_text("4", timeout=60_000)
        page.get_by_text("Weekend", exact=True).first.click()
        expect(matching).to_contain_text("1", timeout=30_000)
        assert "days=weekend" in page.url
        page.go_back()
        expect(matching).to_contain_text("4", timeout=30_000)
        page.wait_for_timeout(3000)  # the page does not write the later view back over it
        assert "days=weekend" not in page.url and "cell=coarse" in page.url
        expect(matching).to_contain_text("4")
        page.go_forward()
        expect(matching).to_contain_text("1", timeout=30_000)
        # The open tab is part of the view: in the URL, and Back returns to the tab before.
        page.get_by_role("tab", name="Weekly averages").click()
        expect(page.get_by_text("By bounding box")).to_be_visible(timeout=30_000)
        expect(page).to_have_url(re.compile(r"tab=Weekly\+averages"), timeout=10_000)
        page.go_back()
        expect(page.get_by_role("tab", selected=True)).to_have_text("Flows", timeout=30_000)
        assert "tab=" not in page.url and "days=weekend" in page.url
        browser.close()
