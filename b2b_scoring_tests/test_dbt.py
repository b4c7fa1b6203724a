"""The dbt project: argument building, and staging models built by Dagster on a tiny world."""

import datetime
import json
import os
from pathlib import Path

import duckdb
import pytest
import yaml

from b2b_scoring.definitions import defs
from b2b_scoring.defs.automation import DAILY_PIPELINE_JOB
from b2b_scoring.lib import contract
from b2b_scoring.lib.dbt_args import DBT_PROJECT_DIR, as_of_window, build_dbt_args, manifest_is_stale
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.simulator.vocabulary import FREE_MAIL_DOMAINS
from b2b_scoring_tests.conftest import TINY_END_DATE, tiny_world_settings


def test_dbt_args_pass_an_absolute_warehouse_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = build_dbt_args(Settings.from_env({}), Path("data/warehouse.duckdb"))
    assert args[:2] == ["build", "--vars"]
    # dbt runs inside dbt_project/, so a relative path would point at another file.
    assert json.loads(args[2]) == {
        "warehouse_path": str(tmp_path / "data" / "warehouse.duckdb"),
        "duckdb_memory_limit": "4GB",
        "engagement_half_life_days": 14,
    }


def test_dbt_args_carry_the_as_of_window_and_settings() -> None:
    settings = Settings.from_env(
        {"B2B_SCORING_ENGAGEMENT_HALF_LIFE_DAYS": "30", "B2B_SCORING_DUCKDB_MEMORY_LIMIT": "2GB"}
    )
    dbt_vars = json.loads(build_dbt_args(settings, Path("/w.duckdb"), as_of=("2025-01-02", "2025-01-05"))[2])
    assert dbt_vars["as_of_start"] == "2025-01-02" and dbt_vars["as_of_end"] == "2025-01-05"
    assert dbt_vars["engagement_half_life_days"] == 30 and dbt_vars["duckdb_memory_limit"] == "2GB"


def test_full_refresh_is_passed_on() -> None:
    settings = Settings.from_env({})
    assert build_dbt_args(settings, Path("/w.duckdb"), full_refresh=True)[-1] == "--full-refresh"
    assert "--full-refresh" not in build_dbt_args(settings, Path("/w.duckdb"))


def test_partition_days_map_to_the_next_as_of_date() -> None:
    # Day P's events are "strictly before" P + 1: its features are as of P + 1, so the morning
    # run on P + 1 scores with everything up to the end of yesterday.
    start, end = datetime.datetime(2025, 3, 1), datetime.datetime(2025, 3, 4)
    assert as_of_window(start, end) == ("2025-03-02", "2025-03-05")
    assert as_of_window(start, start + datetime.timedelta(days=1)) == ("2025-03-02", "2025-03-03")


def test_manifest_is_stale_when_missing_or_older_than_a_model(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: x")
    model = tmp_path / "models" / "m.sql"
    model.write_text("select 1")
    manifest = tmp_path / "target" / "manifest.json"
    assert manifest_is_stale(manifest, tmp_path)
    manifest.parent.mkdir()
    manifest.write_text("{}")
    os.utime(model, (1, 1))
    os.utime(tmp_path / "dbt_project.yml", (1, 1))
    assert not manifest_is_stale(manifest, tmp_path)
    model.write_text("select 2")
    assert manifest_is_stale(manifest, tmp_path)


def test_staging_accepts_exactly_the_contract_event_types() -> None:
    models = yaml.safe_load((DBT_PROJECT_DIR / "models" / "staging" / "_staging.yml").read_text())["models"]
    events = next(m for m in models if m["name"] == "stg_experience_events")
    event_type = next(c for c in events["columns"] if c["name"] == "event_type")
    accepted = next(t["accepted_values"] for t in event_type["data_tests"] if isinstance(t, dict))
    assert tuple(accepted["arguments"]["values"]) == contract.EVENT_TYPES


def test_dbt_sources_are_the_raw_assets() -> None:
    sources = yaml.safe_load((DBT_PROJECT_DIR / "models" / "staging" / "_sources.yml").read_text())["sources"]
    assert [t["name"] for t in sources[0]["tables"]] == list(contract.CONTRACTS)


def test_staging_models_build_with_all_dbt_tests_passing(tiny_pipeline) -> None:
    settings, result = tiny_pipeline
    assert result.success
    evaluations = [e for e in result.get_asset_check_evaluations() if e.asset_key.path[0] == "staging"]
    assert len(evaluations) >= 10
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        for table in contract.CONTRACTS:
            raw_rows = con.execute(f"select count(*) from raw.{table}").fetchall()[0][0]
            staged_rows = con.execute(f"select count(*) from staging.stg_{table}").fetchall()[0][0]
            assert raw_rows == staged_rows > 0, table


def test_staging_normalizes_domains_and_paths(tiny_pipeline) -> None:
    settings, _ = tiny_pipeline
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        bad_domains = con.execute(
            "select count(*) from staging.stg_accounts where website_domain like '%/%' "
            "or website_domain like 'www.%' or website_domain <> lower(website_domain)"
        ).fetchall()[0][0]
        assert bad_domains == 0
        linked_email_matches = con.execute(
            "select avg((p.email_domain = a.website_domain)::int) from staging.stg_persons p "
            "join staging.stg_accounts a using (account_key) where NOT list_contains(?, p.email_domain)",
            [list(FREE_MAIL_DOMAINS)],
        ).fetchall()[0][0]
        assert linked_email_matches > 0.8
        paths = {
            row[0]
            for row in con.execute("select distinct web_path from staging.stg_experience_events").fetchall()
        }
        assert "/pricing" in paths and all(p is None or p.startswith("/") for p in paths)


def test_daily_pipeline_job_reloads_one_day_and_rebuilds_staging(tiny_pipeline) -> None:
    settings, _ = tiny_pipeline
    count_events = "select count(*) from staging.stg_experience_events"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        before = con.execute(count_events).fetchall()
    with tiny_world_settings(settings.data_dir):
        job = defs().resolve_job_def(DAILY_PIPELINE_JOB)
        result = job.execute_in_process(partition_key=TINY_END_DATE.isoformat())
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert {"raw/experience_events", "raw/persons", "staging/stg_experience_events"} <= materialized
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute(count_events).fetchall() == before
