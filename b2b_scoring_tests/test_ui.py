"""The Dagster UI as a person sees it: `b2b-scoring dev` (what `make dev` runs) serves the
400-day world (a copy) on 127.0.0.1; a scoring run is launched through the GraphQL API; headless
Chromium (Debian's, driven by Playwright, no browser download) opens the asset graph and the
asset pages and finds the monitoring group, the drift check's result and the score plot.
Screenshots go to test-artifacts/ui/ (B2B_SCORING_TEST_ARTIFACTS to move them)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from b2b_scoring.defs.features.dbt import defs as dbt_definitions
from b2b_scoring.defs.partitions import partition_range_tags
from b2b_scoring.defs.resources import resources
from b2b_scoring.lib.dagster_home import ensure_dagster_home
from b2b_scoring.lib.settings import Settings
from b2b_scoring_tests.conftest import YEAR_ENV, copy_year_world

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("B2B_SCORING_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("B2B_SCORING_TEST_ARTIFACTS", REPO / "test-artifacts")) / "ui"
# Flags for a root user on a machine without network or GPU (no sandbox, no background traffic).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PARTITION = "2025-06-29|lead_conversion"


def _browser_or_skip() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package (pip install -e '.[dev]')"
    else:
        missing = None if CHROMIUM.is_file() else f"Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing is None:
        return
    message = f"UI test needs {missing}"
    if os.environ.get("B2B_SCORING_REQUIRE_BROWSER"):
        pytest.fail(message + "; B2B_SCORING_REQUIRE_BROWSER is set, so it may not be skipped")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the UI process ended with exit code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@pytest.fixture(scope="module")
def ui(year_world, tmp_path_factory) -> Iterator[tuple[str, Settings]]:
    _browser_or_skip()
    if not year_world.training["lead_conversion"].success:
        pytest.skip("the lead goal of the 400-day world did not train")
    data_dir = copy_year_world(year_world, tmp_path_factory.mktemp("ui_world"))
    env = {**YEAR_ENV, "B2B_SCORING_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home")}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        settings = Settings.from_env()
        ensure_dagster_home(settings.dagster_home)
        # The day's features, recorded in the instance the UI shows.
        dbt = dbt_definitions()
        with dg.DagsterInstance.get() as instance:
            built = dg.materialize(
                [a for a in dbt.assets if a.partitions_def is not None],
                resources={**resources().resources, **dbt.resources},
                tags=partition_range_tags("2025-06-29", "2025-06-29"),
                instance=instance,
            )
        assert built.success
    port = _free_port()
    log = (tmp_path_factory.mktemp("ui_log") / "dagster_dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "b2b_scoring.cli", "dev"],
        cwd=REPO,
        env={**os.environ, **env, "PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/server_info", process, 120)
        yield url, settings
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # `dagster dev` sometimes keeps its webserver alive after SIGTERM (in CI the teardown
            # then waited the whole minute, the daemon had shut down): the test is over, so stop
            # the whole group.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        log.close()


def _run_scoring_through_graphql(url: str) -> str:
    from dagster_graphql import DagsterGraphQLClient

    host, port = url.removeprefix("http://").split(":")
    client = DagsterGraphQLClient(host, port_number=int(port))
    date, goal = PARTITION.split("|")
    run_id = client.submit_job_execution(
        "person_scoring_job",
        repository_location_name="b2b_scoring",
        tags={"dagster/partition": PARTITION, "dagster/partition/date": date, "dagster/partition/goal": goal},
    )
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id)
        if status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            return status.value
        time.sleep(2)
    return "TIMEOUT"


def test_a_user_sees_the_graph_the_drift_check_and_the_score_plot(ui) -> None:
    from playwright.sync_api import sync_playwright

    url, _ = ui
    assert _run_scoring_through_graphql(url) == "SUCCESS"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # Tall enough for the whole monitoring group: the graph renders only the nodes in view.
        page = browser.new_page(viewport={"width": 1600, "height": 2400})

        def visit(path: str, expected: str, screenshot: str) -> str:
            page.goto(f"{url}{path}", wait_until="networkidle")
            skip = page.get_by_role("button", name="Skip")  # the UI's first-visit newsletter dialog
            if skip.count():
                skip.first.click()
            try:
                page.get_by_text(expected).first.wait_for(timeout=60_000)
            finally:
                page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
            return page.inner_text("body")

        try:
            graph = visit(
                "/locations/b2b_scoring/asset-groups/monitoring", "person_score_drift", "monitoring.png"
            )
            assert "person_realized_performance" in graph and "person_alerts" in graph
            assert "person_challenger" in graph and "job_metrics" in graph
            checks = visit(
                "/assets/monitoring/person_score_drift?view=checks", "score_drift", "drift_check.png"
            )
            # The check ran in the launched run: blocking, with its result and the score PSI (the
            # UI plots numeric check metadata over time).
            assert "This is a blocking asset check" in checks and "score_psi" in checks, checks[:3000]
            assert "Evaluation result" in checks and ("Passed" in checks or "Failed" in checks), checks[:3000]
            events = visit("/assets/scores/person_scores?view=events", "score_distribution", "scores.png")
            assert "90-100" in events, events[:2000]
        finally:
            browser.close()
