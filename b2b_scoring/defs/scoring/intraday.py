"""Intraday rescoring: when new event files land, the persons active today are rescored within
minutes, without waiting for the morning run and without touching the daily partitions.

A run loads today's window [day 00:00, day + 1) of experience events from the landing files
(the same ingestion as the daily partition), rebuilds the daily feature tables as of day + 1 (the
same dbt models), and scores the persons with events that day with each person goal's champion
into scores.intraday_person_scores. The morning run of the day's partition later replaces that
window and those features with the same code, so nothing diverges; the daily scores tables are
not written.
"""

import datetime
import json

import dagster as dg
import duckdb
import pyarrow.compute as pc
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.features.dbt import dbt_project
from b2b_scoring.defs.raw.assets import ingest_raw_table
from b2b_scoring.defs.resources import RawSourceResource
from b2b_scoring.defs.scoring.assets import score_key
from b2b_scoring.lib.dbt_args import DAILY_PARTITIONED_SELECTOR, as_of_window, build_dbt_args
from b2b_scoring.lib.ingestion import changed_landing_files, landing_run_key, landing_signatures, time_range
from b2b_scoring.lib.ml.registry import champion, load_model
from b2b_scoring.lib.scoring.scores import relative_to_population, score_records
from b2b_scoring.lib.scoring.store import (
    INTRADAY_TABLE,
    SCORE_TABLES,
    scoring_population,
    write_intraday_scores,
)
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import table_exists

INTRADAY_KEY = dg.AssetKey(["scores", "intraday_person_scores"])
INTRADAY_JOB = "intraday_scoring_job"


class IntradayConfig(dg.Config):
    day: str | None = None  # the UTC day whose events are rescored (default: today)


@dg.asset(
    key=INTRADAY_KEY,
    deps=[score_key("person")],
    group_name="intraday",
    kinds={"lightgbm", "duckdb"},
    pool="duckdb",
    description="Persons with new events today, rescored within minutes of their files landing "
    f"({INTRADAY_TABLE}; score_change is the move since this morning's daily score).",
)
def intraday_person_scores(
    context: dg.AssetExecutionContext,
    config: IntradayConfig,
    duckdb: DuckDBResource,
    raw_source: RawSourceResource,
    dbt: DbtCliResource,
) -> dg.MaterializeResult:
    settings = Settings.from_env()
    day = (
        datetime.date.fromisoformat(config.day) if config.day else datetime.datetime.now(datetime.UTC).date()
    )
    start = datetime.datetime.combine(day, datetime.time())
    end = start + datetime.timedelta(days=1)
    as_of = end.date()
    with duckdb.get_connection() as con:
        ingest_raw_table(con, raw_source, "experience_events", (start, end))
        touched = con.sql(
            "select distinct person_key from raw.experience_events "
            "where timestamp >= $start and timestamp < $end",
            params={"start": start, "end": end},
        ).to_arrow_table()["person_key"]
    if len(touched) == 0:
        return dg.MaterializeResult(metadata={"day": str(day), "persons_rescored": 0})
    window = as_of_window(start, end)
    dbt.cli(
        [*build_dbt_args(settings, duckdb.database, as_of=window), "--select", DAILY_PARTITIONED_SELECTOR],
        manifest=dbt_project().manifest_path,
    ).wait()
    rescored: dict[str, int] = {}
    for goal in settings.goals().dated_person_goals():
        with duckdb.get_connection() as con:
            model = champion(con, goal.name)
            if model is None:
                context.log.info(f"goal {goal.name} has no trained model: not rescored")
                continue
            today, before = (scoring_population(con, goal, date, touched) for date in (as_of, day))
            morning = (
                con.sql(
                    "select probability, tier = 'A' as tier_a from scores.person_scores "
                    "where goal = $goal and score_date = $day",
                    params={"goal": goal.name, "day": day},
                ).to_arrow_table()
                if table_exists(con, SCORE_TABLES["person"])
                else None
            )
        if today.num_rows == 0:
            continue
        scored = score_records(load_model(model["artifact_path"]), today, "person_key", goal.scoring, before)
        # Without this morning's scores, the rescored persons are their own population.
        if morning is not None and morning.num_rows:
            tier_a_floor = pc.min(pc.filter(morning["probability"], morning["tier_a"])).as_py()
            scored = relative_to_population(
                scored, "person_key", morning["probability"].to_numpy(), tier_a_floor, goal.scoring
            )
        with duckdb.get_connection() as con:
            rescored[goal.name] = write_intraday_scores(con, goal.name, as_of, model["version"], scored)
    return dg.MaterializeResult(
        metadata={
            "day": str(day),
            "persons_with_events": len(touched),
            "persons_rescored": dg.MetadataValue.json(rescored),
        }
    )


@dg.sensor(
    name="intraday_rescoring_sensor",
    job_name=INTRADAY_JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the landing folder's experience-event files (B2B_SCORING_SOURCE=landing): new or "
    "changed files with events of today rescore today's active persons.",
)
def intraday_rescoring_sensor(context: dg.SensorEvaluationContext, raw_source: RawSourceResource):
    if raw_source.source != "landing":
        return dg.SkipReason("The source is the simulator: there is no today to rescore.")
    mapping = raw_source.mapping()
    table_mapping = mapping.tables.get("experience_events")
    if table_mapping is None:
        return dg.SkipReason("The mapping has no experience_events.")
    current = {
        path: signature
        for path, signature in landing_signatures(raw_source.input_dir, mapping).items()
        if path.split("/")[0] == table_mapping.folder
    }
    changed = changed_landing_files(context.cursor, current)
    if not changed:
        return dg.SkipReason("No new or changed event files.")
    today = datetime.datetime.now(datetime.UTC).date()
    with duckdb.connect() as con:
        covered = time_range(con, table_mapping, [raw_source.input_dir / p for p in changed])
    cursor = json.dumps(current, sort_keys=True)
    if covered is None or covered[1].date() < today:
        return dg.SensorResult(
            skip_reason=dg.SkipReason("The new files have no events of today."), cursor=cursor
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=landing_run_key(current, changed), run_config=_day_config(today))
        ],
        cursor=cursor,
    )


def _day_config(day: datetime.date) -> dict:
    return {"ops": {"scores__intraday_person_scores": {"config": {"day": day.isoformat()}}}}


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[intraday_person_scores],
        jobs=[dg.define_asset_job(INTRADAY_JOB, selection=[INTRADAY_KEY])],
        sensors=[intraday_rescoring_sensor],
    )
