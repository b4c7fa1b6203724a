"""Partitions of time-based assets: one per UTC day from B2B_SCORING_START_DATE."""

import dagster as dg

from b2b_scoring.lib.settings import Settings


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """Daily partitions whose time windows are half-open UTC days [00:00, next 00:00)."""
    return dg.DailyPartitionsDefinition(start_date=settings.start_date.isoformat(), timezone="UTC")
