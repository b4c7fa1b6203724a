"""Landing-folder sensor: new or changed landing files start the daily pipeline for the days they cover."""

import json

import dagster as dg
import duckdb

from b2b_scoring.defs.automation import DAILY_PIPELINE_JOB
from b2b_scoring.defs.partitions import daily_partitions, partition_range_tags
from b2b_scoring.defs.raw.assets import DAILY_TABLES
from b2b_scoring.defs.resources import RawSourceResource
from b2b_scoring.lib.ingestion import (
    SourceMapping,
    changed_landing_files,
    landing_run_key,
    landing_signatures,
    time_range,
)
from b2b_scoring.lib.settings import Settings

LANDING_SENSOR = "landing_files_sensor"


def build_landing_sensor(partitions_def: dg.TimeWindowPartitionsDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=LANDING_SENSOR,
        job_name=DAILY_PIPELINE_JOB,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Watches the landing folder (B2B_SCORING_SOURCE=landing): new or changed files start one "
            "run of the daily pipeline over the days their events cover (or the latest day)."
        ),
    )
    def landing_files_sensor(context: dg.SensorEvaluationContext, raw_source: RawSourceResource):
        if raw_source.source != "landing":
            return dg.SkipReason("The source is the simulator: its world asset loads its own files.")
        mapping = raw_source.mapping()
        current = landing_signatures(raw_source.input_dir, mapping)
        changed = changed_landing_files(context.cursor, current)
        if not changed:
            return dg.SkipReason(f"No new or changed files in {raw_source.input_dir}.")
        first, last = _partition_range(raw_source, changed, partitions_def, mapping)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=landing_run_key(current, changed),
                    tags=partition_range_tags(first, last),
                )
            ],
            cursor=json.dumps(current, sort_keys=True),
        )

    return landing_files_sensor


def _partition_range(
    raw_source: RawSourceResource,
    changed: list[str],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    mapping: SourceMapping,
) -> tuple[str, str]:
    """The daily partitions covering the events in the changed files, within the partition set;
    the latest partition when no file of a daily table changed."""
    keys = partitions_def.get_partition_keys()
    days: list[str] = []
    for table in DAILY_TABLES:
        table_mapping = mapping.tables.get(table)
        paths = [
            raw_source.input_dir / path
            for path in changed
            if table_mapping is not None and path.split("/")[0] == table_mapping.folder
        ]
        if paths:
            with duckdb.connect() as con:
                covered = time_range(con, table_mapping, paths)
            if covered is not None:
                days.extend(moment.date().isoformat() for moment in covered)
    in_range = [key for key in keys if days and min(days) <= key <= max(days)]
    return (in_range[0], in_range[-1]) if in_range else (keys[-1], keys[-1])


@dg.definitions
def sensors() -> dg.Definitions:
    return dg.Definitions(sensors=[build_landing_sensor(daily_partitions(Settings.from_env()))])
