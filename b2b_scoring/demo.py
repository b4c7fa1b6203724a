"""`b2b-scoring demo`: materialize every asset on the simulated world, recorded in DAGSTER_HOME."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import duckdb

from b2b_scoring.defs.automation import ALL_ASSETS_JOB
from b2b_scoring.defs.partitions import partition_range_tags
from b2b_scoring.lib.contract import CONTRACTS
from b2b_scoring.lib.ingestion import QUARANTINE_SCHEMA, RAW_SCHEMA
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import relation_row_counts
from b2b_scoring.lib.world_landing import TRUTH_SCHEMA

STAGING_SCHEMA = "staging"


@dataclass(frozen=True)
class DemoOutcome:
    run_id: str
    passed_checks: int
    failed_checks: list[str]
    row_counts: dict[str, dict[str, int]]


def demo_partition_range(settings: Settings, partitions_def: dg.PartitionsDefinition) -> tuple[str, str]:
    """Every daily partition up to the world's last day.

    Starting at the first partition rather than the world's first day also empties days that a
    previous demo (run on another day, so with a shifted world) left behind.
    """
    keys = partitions_def.get_partition_keys()
    last_world_day = settings.sim_end_date.isoformat()
    covered = [key for key in keys if key <= last_world_day]
    if not covered:
        raise RuntimeError(
            f"No daily partition from {settings.start_date} up to the world's last day {last_world_day}."
        )
    return covered[0], covered[-1]


def run_demo(settings: Settings, log: Callable[[str], None]) -> DemoOutcome:
    """Run the all-assets job once over all partitions, in process, on the persistent instance."""
    from b2b_scoring.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def(ALL_ASSETS_JOB)
    assert job.partitions_def is not None, f"{ALL_ASSETS_JOB} selects no daily assets"
    first, last = demo_partition_range(settings, job.partitions_def)
    instance = dg.DagsterInstance.get()
    log(
        f"materializing {len(definitions.resolve_all_asset_keys())} assets on a world of "
        f"{settings.persons:,} persons; daily assets in one run over {first} .. {last}"
    )
    result = job.execute_in_process(
        instance=instance,
        tags=partition_range_tags(first, last),
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    evaluations = result.get_asset_check_evaluations()
    log(f"run {result.run_id} finished; {len(evaluations)} asset checks evaluated")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        row_counts = {
            schema: relation_row_counts(con, schema, first=list(CONTRACTS))
            for schema in (RAW_SCHEMA, QUARANTINE_SCHEMA, STAGING_SCHEMA, TRUTH_SCHEMA)
        }
    return DemoOutcome(
        run_id=result.run_id,
        passed_checks=sum(e.passed for e in evaluations),
        failed_checks=[f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed],
        row_counts=row_counts,
    )
