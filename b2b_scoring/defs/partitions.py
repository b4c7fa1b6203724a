"""Partitions of time-based assets: one per UTC day from B2B_SCORING_START_DATE."""

import dagster as dg

from b2b_scoring.lib.settings import Settings

# Run tags that make one run cover a range of partitions (a single-run backfill).
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Tags of one run over the partitions first..last (inclusive keys)."""
    return {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """Daily partitions whose time windows are half-open UTC days [00:00, next 00:00)."""
    return dg.DailyPartitionsDefinition(start_date=settings.start_date.isoformat(), timezone="UTC")
