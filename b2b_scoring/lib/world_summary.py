"""Headline figures of a set of contract tables (a simulated world or a landing folder)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from b2b_scoring.lib.contract import CONVERT_LEAD, STAGE_ATTRIBUTE
from b2b_scoring.lib.sql import fetch_single_row


@dataclass(frozen=True)
class WorldSummary:
    row_counts: dict[str, int]
    lead_conversion_rate: float
    unlinked_person_share: float
    won_opportunity_rate: float
    first_event_at: str | None
    last_event_at: str | None


def summarize_contract_tables(tables: Mapping[str, pa.Table]) -> WorldSummary:
    """Row counts, the share of persons who converted and who have no account, and the won rate."""
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        lead_conversion_rate, unlinked_share = fetch_single_row(
            con,
            """
            SELECT
                coalesce((SELECT count(DISTINCT person_key) FROM experience_events WHERE event_type = ?)
                         / nullif(count(*), 0), 0),
                coalesce(count(*) FILTER (WHERE account_key IS NULL) / nullif(count(*), 0), 0)
            FROM persons
            """,
            [CONVERT_LEAD],
        )
        (won_rate,) = fetch_single_row(
            con,
            """
            SELECT coalesce(count(DISTINCT opportunity_key) FILTER (WHERE new_value = 'Closed Won')
                            / nullif(count(DISTINCT opportunity_key), 0), 0)
            FROM opportunity_events WHERE attribute_name = ?
            """,
            [STAGE_ATTRIBUTE],
        )
        first_event, last_event = fetch_single_row(
            con, "SELECT min(timestamp)::VARCHAR, max(timestamp)::VARCHAR FROM experience_events"
        )
    finally:
        con.close()
    return WorldSummary(
        row_counts={name: table.num_rows for name, table in tables.items()},
        lead_conversion_rate=float(lead_conversion_rate),
        unlinked_person_share=float(unlinked_share),
        won_opportunity_rate=float(won_rate),
        first_event_at=first_event,
        last_event_at=last_event,
    )
