"""Materialize the simulated world and the raw assets on a tiny world, in a temp data dir."""

import datetime

import dagster as dg
import duckdb
import pytest

from b2b_scoring.defs.raw.assets import raw_definitions
from b2b_scoring.defs.resources import SimulatorResource, resources
from b2b_scoring.lib.contract import CONTRACTS
from b2b_scoring.lib.quality import CHECKS_BY_TABLE
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.simulator import simulate_world
from b2b_scoring_tests.conftest import TINY_END_DATE, TINY_RANGE_TAGS, tiny_world_settings

EVENTS_KEY = dg.AssetKey(["raw", "experience_events"])
EVENTS_FINGERPRINT = (
    "SELECT count(*), sum(hash(event_id, person_key, timestamp, event_type, web_url, campaign, asset_name, "
    "converted_status)) FROM raw.experience_events WHERE timestamp >= ? AND timestamp < ?"
)


@pytest.fixture(scope="module")
def tiny_warehouse(tmp_path_factory: pytest.TempPathFactory):
    """One run over every partition of the tiny world; yields (settings, run result, world)."""
    data_dir = tmp_path_factory.mktemp("tiny") / "data"
    with tiny_world_settings(data_dir) as settings:
        raw = raw_definitions()
        result = dg.materialize(
            [*raw.assets, *raw.asset_checks],
            resources=resources().resources,
            tags=TINY_RANGE_TAGS,
        )
        world = simulate_world(SimulatorResource.from_settings(settings).simulation_config())
        yield settings, result, world, raw


def warehouse(settings: Settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.warehouse_path), read_only=True)


def test_run_succeeds_with_all_checks_passing(tiny_warehouse) -> None:
    _, result, _, _ = tiny_warehouse
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == sum(len(CHECKS_BY_TABLE[table]) for table in CONTRACTS)
    assert all(e.passed for e in evaluations)


def test_raw_tables_hold_exactly_the_world(tiny_warehouse) -> None:
    settings, _, world, _ = tiny_warehouse
    with warehouse(settings) as con:
        for table, expected in world.tables.items():
            assert con.sql(f"SELECT count(*) FROM raw.{table}").fetchall() == [(expected.num_rows,)], table
        persons_world = world.tables["persons"].sort_by("person_key").to_pylist()
        persons_raw = con.sql("SELECT * FROM raw.persons ORDER BY person_key").to_arrow_table().to_pylist()
        assert persons_raw == persons_world


def test_world_metadata_and_truth_tables(tiny_warehouse) -> None:
    settings, result, world, _ = tiny_warehouse
    [materialization] = result.asset_materializations_for_node("simulator__b2b_world")
    metadata = materialization.metadata
    assert metadata["rows/experience_events"].value == world.tables["experience_events"].num_rows
    assert 0 < metadata["lead_conversion_rate"].value < 1
    assert 0 < metadata["unlinked_person_share"].value < 1
    assert metadata["last_day"].value == TINY_END_DATE.isoformat()
    assert (settings.simulator_landing_dir / "persons").is_dir()
    with warehouse(settings) as con:
        for name, table in world.truth.items():
            assert con.execute(f"SELECT count(*) FROM truth.{name}").fetchone()[0] == table.num_rows


def test_each_partition_is_recorded_with_row_counts(tiny_warehouse) -> None:
    settings, result, world, _ = tiny_warehouse
    events = result.asset_materializations_for_node("raw__experience_events")
    assert len(events) == (TINY_END_DATE - datetime.date(2025, 5, 1)).days + 1
    assert events[0].metadata["dagster/row_count"].value == world.tables["experience_events"].num_rows
    snapshot = result.asset_materializations_for_node("raw__persons")[0].metadata
    assert snapshot["dagster/row_count"].value == world.tables["persons"].num_rows
    assert "| person_key |" in snapshot["preview"].value


def test_rematerializing_a_partition_leaves_identical_rows(tiny_warehouse) -> None:
    settings, _, _, raw = tiny_warehouse
    day = datetime.datetime(2025, 6, 10)
    bounds = [day, day + datetime.timedelta(days=1)]
    with warehouse(settings) as con:
        before_day = con.execute(EVENTS_FINGERPRINT, bounds).fetchone()
        before_all = con.execute("SELECT count(*), sum(hash(event_id)) FROM raw.experience_events").fetchone()
    assert before_day[0] > 0
    with tiny_world_settings(settings.data_dir):
        rerun = dg.materialize(
            [*raw.assets, *raw.asset_checks],
            resources=resources().resources,
            partition_key="2025-06-10",
            selection=dg.AssetSelection.assets(EVENTS_KEY),
        )
    assert rerun.success
    [materialization] = rerun.asset_materializations_for_node("raw__experience_events")
    assert materialization.metadata["dagster/partition_row_count"].value == before_day[0]
    with warehouse(settings) as con:
        assert con.execute(EVENTS_FINGERPRINT, bounds).fetchone() == before_day
        assert (
            con.execute("SELECT count(*), sum(hash(event_id)) FROM raw.experience_events").fetchone()
            == before_all
        )
