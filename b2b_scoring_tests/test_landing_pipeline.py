"""A user's landing folder end to end: the sensor notices files, the daily pipeline ingests them
with bad rows quarantined, and a second look at the same files requests nothing."""

import datetime
import json
import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from b2b_scoring.definitions import defs
from b2b_scoring.defs.automation import DAILY_PIPELINE_JOB
from b2b_scoring.defs.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from b2b_scoring.defs.raw.sensors import LANDING_SENSOR
from b2b_scoring.defs.resources import RawSourceResource
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.simulator import SimulationConfig, simulate_world, write_landing_files

END = datetime.date(2025, 6, 30)
CONFIG = SimulationConfig(n_persons=300, history_days=40, end_date=END, seed=5)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("landing_pipeline")
    landing_dir = root / "landing"
    world = simulate_world(CONFIG)
    write_landing_files(world, landing_dir, fmt="csv")
    (landing_dir / "persons" / "zz-late-export.csv").write_text(
        "person_key,created_at,email\n"
        ",2025-06-01,nobody@x.com\n"  # no key
        "P-99999999,2999-01-01,future@x.com\n"  # created in the future
        'P-99999998,2025-06-01,=HYPERLINK("http://evil")\n'  # formula-like text is data
    )
    (landing_dir / "experience_events" / "zz-late-events.csv").write_text(
        "event_id,person_key,timestamp,event_type\n"
        "LATE-1,P-00000001,2025-06-29T10:00:00Z,web.webpagedetails.pageViews\n"
        "LATE-2,P-00000001,2025-06-29T11:00:00Z,chat.messageSent\n"  # unknown type: kept, warned
    )
    env = {
        "B2B_SCORING_DATA_DIR": str(root / "data"),
        "B2B_SCORING_SOURCE": "landing",
        "B2B_SCORING_LANDING_DIR": str(landing_dir),
        "B2B_SCORING_START_DATE": CONFIG.start_date.isoformat(),
        "B2B_SCORING_SIM_END_DATE": END.isoformat(),
        "B2B_SCORING_HISTORY_DAYS": "40",
    }
    return env, world


@pytest.fixture
def settings(landing, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The landing folder's environment, set after conftest's isolation of each test."""
    env, _ = landing
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def evaluate_sensor(settings: Settings, cursor: str | None):
    sensor = defs().resolve_sensor_def(LANDING_SENSOR)
    context = dg.build_sensor_context(
        cursor=cursor, resources={"raw_source": RawSourceResource.from_settings(settings)}
    )
    return sensor(context)


def test_sensor_requests_one_run_over_the_days_of_new_files_then_nothing(settings: Settings) -> None:
    first = evaluate_sensor(settings, None)
    [request] = first.run_requests
    assert request.tags[PARTITION_RANGE_START_TAG] == CONFIG.start_date.isoformat()
    assert request.tags[PARTITION_RANGE_END_TAG] == END.isoformat()
    seen = json.loads(first.cursor)
    assert "persons/zz-late-export.csv" in seen and "experience_events/part-000.csv" in seen

    again = evaluate_sensor(settings, first.cursor)
    assert isinstance(again, dg.SkipReason)

    late = settings.landing_dir / "experience_events" / "zz-late-events.csv"
    os.utime(late, ns=(late.stat().st_atime_ns, late.stat().st_mtime_ns + 1_000_000_000))
    changed = evaluate_sensor(settings, first.cursor)
    [only_late_days] = changed.run_requests
    assert only_late_days.tags[PARTITION_RANGE_START_TAG] == "2025-06-29"
    assert only_late_days.tags[PARTITION_RANGE_END_TAG] == "2025-06-29"
    assert only_late_days.run_key != request.run_key


def test_sensor_skips_when_the_simulator_is_the_source(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B2B_SCORING_SOURCE", "simulator")
    assert isinstance(evaluate_sensor(Settings.from_env(), None), dg.SkipReason)


def test_daily_pipeline_ingests_the_folder_and_quarantines_bad_rows(landing, settings: Settings) -> None:
    _, world = landing
    request = evaluate_sensor(settings, None).run_requests[0]
    job = defs().resolve_job_def(DAILY_PIPELINE_JOB)
    result = job.execute_in_process(tags=request.tags)
    assert result.success
    errors = [e for e in result.get_asset_check_evaluations() if not e.passed and e.severity.value == "ERROR"]
    assert errors == []

    persons = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["raw", "persons"])
    )
    assert persons["rows_read"].value == 300 + 3
    assert persons["rows_loaded"].value == 300 + 1
    assert persons["counts_reconcile"].value is True
    assert persons["quarantined_by_reason"].value == {
        "missing_required:person_key": 1,
        "timestamp_in_future:created_at": 1,
    }
    assert "quarantine_sample" in persons
    # 30 accounts with distinct names: the linked persons give no wrong candidates to learn from,
    # so matching says why it did not match, warns, and the pipeline goes on.
    matching = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["matching", "account_person_relations"])
    )
    assert "all right" in matching["not_matched_because"].value
    assert [
        e.severity
        for e in result.get_asset_check_evaluations()
        if e.check_name == "matcher_validation_precision"
    ] == [dg.AssetCheckSeverity.WARN]

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT email FROM raw.persons WHERE person_key = 'P-99999998'").fetchall() == [
            ('=HYPERLINK("http://evil")',)
        ]
        quarantined = con.execute(
            "SELECT source_file, source_row, reasons, original->>'email' FROM quarantine.persons ORDER BY 2"
        ).fetchall()
        assert [(Path(f).name, row, reasons, email) for f, row, reasons, email in quarantined] == [
            ("zz-late-export.csv", 1, ["missing_required:person_key"], "nobody@x.com"),
            ("zz-late-export.csv", 2, ["timestamp_in_future:created_at"], "future@x.com"),
        ]
        events = con.execute("SELECT count(*) FROM raw.experience_events").fetchall()[0][0]
        assert events == world.tables["experience_events"].num_rows + 2
        assert con.execute("SELECT count(*) FROM staging.stg_experience_events").fetchall()[0][0] == events


def test_a_flat_export_in_the_mapping_becomes_a_raw_asset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing_dir = tmp_path / "landing"
    (landing_dir / "leads").mkdir(parents=True)
    (landing_dir / "leads" / "leads.csv").write_text(
        "Lead Id,Lead Source,Converted,Lead Quality\n"
        "L1,Google,1,High\nL2,Select,0,\nL3,google,0,Low\n,Web,1,\n"
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "flat_exports:\n"
        "  web_leads:\n"
        "    folder: leads\n"
        "    key: Lead Id\n"
        "    outcome: Converted\n"
        "    positive_outcome_values: ['1']\n"
        "    known_after_contact: [Lead Quality]\n"
        "    missing_values: ['', Select]\n"
    )
    for name, value in {
        "B2B_SCORING_SOURCE": "landing",
        "B2B_SCORING_LANDING_DIR": str(landing_dir),
        "B2B_SCORING_MAPPING": str(mapping),
    }.items():
        monkeypatch.setenv(name, value)
    definitions = defs()
    key = dg.AssetKey(["raw", "web_leads"])
    assets = [a for a in definitions.resolve_asset_graph().assets_defs if key in a.keys]
    result = dg.materialize(assets)  # resolved assets carry their resources
    assert result.success
    [materialization] = result.asset_materializations_for_node("raw__web_leads")
    assert materialization.metadata["rows_loaded"].value == 3
    assert materialization.metadata["quarantined_by_reason"].value == {"missing_required:Lead Id": 1}
    settings = Settings.from_env()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute(
            "SELECT lead_id, lead_source, outcome FROM raw.web_leads ORDER BY 1"
        ).fetchall() == [
            ("L1", "Google", True),
            ("L2", None, False),
            ("L3", "google", False),
        ]
        assert con.execute(
            "SELECT column_name, role FROM raw.flat_export_columns WHERE export = 'web_leads' ORDER BY 1"
        ).fetchall() == [
            ("converted", "outcome"),
            ("lead_id", "key"),
            ("lead_quality", "known_after_contact"),
            ("lead_source", "attribute"),
        ]
