import datetime
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

import b2b_scoring
from b2b_scoring.cli import main
from b2b_scoring.definitions import defs
from b2b_scoring.defs.automation import (
    ALL_ASSETS_JOB,
    DAILY_JOB_METRICS_SCHEDULE,
    DAILY_PIPELINE_JOB,
    JOB_METRICS_JOB,
    SCORING_JOBS,
    TRAINING_JOB,
)
from b2b_scoring.defs.monitoring.job_metrics import JOB_METRICS_KEY
from b2b_scoring.lib.contract import CONTRACTS
from b2b_scoring.lib.dagster_home import ensure_dagster_home

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WORLD_KEY = dg.AssetKey(["simulator", "b2b_world"])
RAW_KEYS = {dg.AssetKey(["raw", table]) for table in CONTRACTS}


@pytest.fixture
def definitions() -> dg.Definitions:
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    return loaded


def test_asset_keys_and_groups(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    assert {WORLD_KEY, *RAW_KEYS} <= set(graph.get_all_asset_keys())
    assert graph.get(WORLD_KEY).group_name == "source"
    assert {graph.get(key).group_name for key in RAW_KEYS} == {"raw"}
    for key in RAW_KEYS:
        assert WORLD_KEY in graph.get(key).parent_keys


def test_every_warehouse_step_is_in_the_duckdb_pool(definitions: dg.Definitions) -> None:
    for assets_def in definitions.resolve_asset_graph().assets_defs:
        assert assets_def.op.pool == "duckdb", assets_def.keys
        if assets_def.is_executable and assets_def.keys:
            assert "duckdb" in definitions.resolve_asset_graph().get(next(iter(assets_def.keys))).kinds


def test_raw_events_are_daily_partitioned_with_single_run_backfills(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    events = graph.get(dg.AssetKey(["raw", "experience_events"]))
    assert events.partitions_def == dg.DailyPartitionsDefinition(start_date="2024-11-01", timezone="UTC")
    assert events.backfill_policy == dg.BackfillPolicy.single_run()
    unpartitioned = {WORLD_KEY, *RAW_KEYS} - {events.key}
    assert all(graph.get(key).partitions_def is None for key in unpartitioned)


def test_blocking_contract_checks_on_every_raw_table(definitions: dg.Definitions) -> None:
    checks = definitions.resolve_asset_graph().asset_check_keys
    for key in RAW_KEYS:
        assert dg.AssetCheckKey(key, "required_not_null") in checks
        assert dg.AssetCheckKey(key, "key_unique") in checks
    specs = [spec for checks_def in definitions.asset_checks or [] for spec in checks_def.check_specs]
    assert specs and all(spec.blocking for spec in specs)


def test_jobs_and_schedule_resolve(definitions: dg.Definitions) -> None:
    daily = definitions.resolve_job_def(DAILY_PIPELINE_JOB)
    assert daily.partitions_def is not None
    daily_keys = set(daily.asset_layer.executable_asset_keys)
    assert RAW_KEYS <= daily_keys and WORLD_KEY not in daily_keys
    assert dg.AssetKey(["staging", "stg_experience_events"]) in daily_keys
    everything = definitions.resolve_job_def(ALL_ASSETS_JOB)
    training = definitions.resolve_job_def(TRAINING_JOB)
    training_keys = {dg.AssetKey(["ml", "training_sets"]), dg.AssetKey(["ml", "model_registry"])}
    assert set(training.asset_layer.executable_asset_keys) == training_keys
    assert training.partitions_def.get_partition_keys() == ["lead_conversion", "opportunity_contract"]
    scoring_keys = set()
    for entity, goal in (("person", "lead_conversion"), ("account", "opportunity_contract")):
        scoring = definitions.resolve_job_def(SCORING_JOBS[entity])
        keys = set(scoring.asset_layer.executable_asset_keys)
        assert {k.to_user_string() for k in keys} == {
            f"scores/{entity}_scores",
            f"monitoring/{entity}_score_drift",
            f"monitoring/{entity}_realized_performance",
            f"monitoring/{entity}_alerts",
            f"monitoring/{entity}_challenger",
            f"exports/crm_{entity}_scores",
            *(["insights/account_sales_view"] if entity == "account" else []),
        }
        scoring_keys |= keys
        dimensions = {d.name: d.partitions_def for d in scoring.partitions_def.partitions_defs}
        assert dimensions["goal"].get_partition_keys() == [goal]
        assert dimensions["date"] == daily.partitions_def
    # Goal-partitioned training and day x goal scoring cannot share a run with daily partitions.
    intraday = {dg.AssetKey(["scores", "intraday_person_scores"])}
    assert definitions.resolve_job_def("intraday_scoring_job").asset_layer.executable_asset_keys == intraday
    # The job metrics run on their own, after the daily pipeline and the scoring it launches.
    monitoring = definitions.resolve_job_def(JOB_METRICS_JOB)
    assert set(monitoring.asset_layer.executable_asset_keys) == {JOB_METRICS_KEY}
    assert JOB_METRICS_KEY not in daily_keys | set(everything.asset_layer.executable_asset_keys)
    metrics_schedule = definitions.resolve_schedule_def(DAILY_JOB_METRICS_SCHEDULE)
    assert (metrics_schedule.cron_schedule, metrics_schedule.execution_timezone) == ("0 7 * * *", "UTC")
    assert metrics_schedule.job_name == JOB_METRICS_JOB
    assert metrics_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    own_jobs = training_keys | scoring_keys | intraday | {JOB_METRICS_KEY}
    assert set(everything.asset_layer.executable_asset_keys) | own_jobs == set(
        definitions.resolve_asset_graph().executable_asset_keys
    )
    retraining = definitions.resolve_schedule_def("weekly_retraining")
    assert retraining.cron_schedule == "0 3 * * 1" and retraining.job_name == TRAINING_JOB
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime.datetime(2025, 7, 7, 3),
        repository_def=definitions.get_repository_def(),
    )
    requests = retraining.evaluate_tick(context).run_requests
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("lead_conversion", "lead_conversion-2025-07-07"),
        ("opportunity_contract", "opportunity_contract-2025-07-07"),
    ]
    schedule = definitions.resolve_schedule_def(f"{DAILY_PIPELINE_JOB}_schedule")
    assert schedule.cron_schedule == "0 1 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_landing_source_and_start_date_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B2B_SCORING_SOURCE", "landing")
    monkeypatch.setenv("B2B_SCORING_START_DATE", "2025-02-01")
    graph = defs().resolve_asset_graph()
    events = graph.get(dg.AssetKey(["raw", "experience_events"]))
    assert events.partitions_def.get_first_partition_key() == "2025-02-01"
    assert all(WORLD_KEY not in graph.get(key).parent_keys for key in RAW_KEYS)


def test_instance_config_is_valid_for_dagster(tmp_path: Path) -> None:
    home = ensure_dagster_home(tmp_path / "home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert not instance.telemetry_enabled
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_dagster_cli_validates_the_workspace(tmp_path: Path, isolated_env: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(ensure_dagster_home(tmp_path / "home"))}
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert not isolated_env.exists(), "validating definitions must not create the data directory"


def test_daily_pipeline_success_launches_scoring_of_its_day(definitions: dg.Definitions) -> None:
    sensor = definitions.resolve_sensor_def("score_after_daily_pipeline")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    def requests(tags: dict[str, str]) -> list[tuple[str, str]]:
        run = dg.DagsterRun(job_name=DAILY_PIPELINE_JOB, run_id="r1", tags=tags)
        event = dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name=DAILY_PIPELINE_JOB)
        with dg.instance_for_test() as instance:
            context = dg.build_run_status_sensor_context(
                sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run
            )
            result = sensor(context)
        return [(r.job_name, str(r.partition_key)) for r in result]

    assert requests({"dagster/partition": "2025-07-06"}) == [
        ("person_scoring_job", "2025-07-06|lead_conversion"),
        ("account_scoring_job", "2025-07-06|opportunity_contract"),
    ]
    range_tags = {
        "dagster/asset_partition_range_start": "2025-07-01",
        "dagster/asset_partition_range_end": "2025-07-06",
    }
    assert requests(range_tags)[0] == ("person_scoring_job", "2025-07-06|lead_conversion")


def test_new_raw_persons_outside_a_matching_run_trigger_rematching(definitions: dg.Definitions) -> None:
    sensor = definitions.resolve_sensor_def("rematch_changed_persons")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    matches_key = dg.AssetKey(["matching", "account_person_relations"])

    @dg.asset(key=dg.AssetKey(["raw", "persons"]))
    def persons_stub() -> None:
        return None

    @dg.asset(key=matches_key, deps=[persons_stub])
    def matches_stub() -> None:
        return None

    def evaluate(assets: list[dg.AssetsDefinition], instance: dg.DagsterInstance, cursor: str | None):
        dg.materialize(assets, instance=instance)
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions)
        return sensor.evaluate_tick(context)

    with dg.instance_for_test() as instance:
        alone = evaluate([persons_stub], instance, None)
        assert sensor.job_name == "matching_job" and len(alone.run_requests) == 1
        assert (
            alone.run_requests[0].partition_key
            == definitions.resolve_job_def("matching_job").partitions_def.get_last_partition_key()
        )
        together = evaluate([persons_stub, matches_stub], instance, alone.cursor)
        assert not together.run_requests
        assert "matches persons itself" in together.skip_message


def test_drifting_or_decaying_scores_request_retraining_once_per_model_version(
    definitions: dg.Definitions,
) -> None:
    sensor = definitions.resolve_sensor_def("retrain_when_scores_degrade")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # (asset, goal, model version, retrain recommended)
    reports = [
        ("person_score_drift", "lead_conversion", 3, True),
        ("person_realized_performance", "lead_conversion", 3, True),  # the same version: one run
        ("account_score_drift", "opportunity_contract", 2, False),
        ("account_realized_performance", "opportunity_contract", 2, True),  # decayed, not drifted
    ]
    with dg.instance_for_test() as instance:
        for asset, goal, version, recommended in reports:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=dg.AssetKey(["monitoring", asset]),
                    partition=f"2025-07-06|{goal}",
                    metadata={"goal": goal, "model_version": version, "retrain_recommended": recommended},
                )
            )
        context = dg.build_multi_asset_sensor_context(
            monitored_assets=[dg.AssetKey(["monitoring", asset]) for asset, *_ in reports],
            instance=instance,
            repository_def=definitions.get_repository_def(),
        )
        requests = sensor(context)
        assert sorted((r.partition_key, r.run_key, r.job_name) for r in requests) == [
            ("lead_conversion", "retrain-lead_conversion-v3", TRAINING_JOB),
            ("opportunity_contract", "retrain-opportunity_contract-v2", TRAINING_JOB),
        ]
        # The cursors moved on: the same materializations do not ask again.
        assert isinstance(sensor(context), dg.SkipReason)


def test_a_flat_export_goal_is_neither_trained_nor_scored_by_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A flat export's outcome has no dates and no daily features: its goal is evaluated with
    `b2b-scoring backtest`, and no partition, schedule or sensor of the pipeline asks for it."""
    shipped = yaml.safe_load((Path(b2b_scoring.__file__).parent / "goals.yaml").read_text())
    flat = {
        "name": "leads_csv",
        "entity": "person",
        "conversion": {"flat_export": "x_education_leads"},
        "prediction_window_days": 90,
    }
    goals_file = tmp_path / "goals.yaml"
    goals_file.write_text(yaml.safe_dump({**shipped, "goals": [*shipped["goals"], flat]}))
    monkeypatch.setenv("B2B_SCORING_GOALS", str(goals_file))
    monkeypatch.setenv("B2B_SCORING_DATA_DIR", str(tmp_path / "data"))
    definitions = defs()
    dated = ["lead_conversion", "opportunity_contract"]
    training = definitions.resolve_job_def(TRAINING_JOB).partitions_def
    assert training is not None and training.get_partition_keys() == dated
    scoring = definitions.resolve_job_def(SCORING_JOBS["person"]).partitions_def
    assert isinstance(scoring, dg.MultiPartitionsDefinition)
    assert {d.name: d.partitions_def for d in scoring.partitions_defs}["goal"].get_partition_keys() == [
        "lead_conversion"
    ]
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime.datetime(2025, 7, 7, 3),
        repository_def=definitions.get_repository_def(),
    )
    requests = definitions.resolve_schedule_def("weekly_retraining").evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == dated
    assert main(["score", "--start", "2025-07-07", "--goal", "leads_csv"]) == 2
    assert "evaluate them with `b2b-scoring backtest --flat-file`" in capsys.readouterr().err
