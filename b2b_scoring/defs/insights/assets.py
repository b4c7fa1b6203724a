"""Daily insights for sales: account intent (who is in market now, for which product line) and
personas (fit of each person, buying-committee coverage of each account, learned importance)."""

import datetime
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.partitions import daily_partitions
from b2b_scoring.lib.insights.intent import INTENT_TABLE, write_account_intent
from b2b_scoring.lib.insights.personas import COMMITTEE_TABLE, write_personas
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import count_rows, markdown_table, preview_markdown

INTENT_KEY = dg.AssetKey(INTENT_TABLE.split("."))
INTENT_INPUTS = ("int_account_intent_signals", "int_person_activity_days", "stg_persons", "stg_accounts")
PERSONAS_KEY = dg.AssetKey(COMMITTEE_TABLE.split("."))
PERSONAS_INPUTS = ("int_person_versions", "int_person_activity_days", "int_opportunities", "stg_accounts")


def _as_of_range(context: dg.AssetExecutionContext) -> tuple[datetime.date, datetime.date]:
    """Partition P holds the insights as of P + 1: everything of P and before."""
    window = context.partition_time_window
    return window.start.date() + datetime.timedelta(days=1), window.end.date()


def _daily_insight(settings: Settings, key: dg.AssetKey, staging_inputs: tuple[str, ...]) -> dict[str, Any]:
    """What every insights asset shares: daily partitions with single-run backfills over the
    staging models it reads, in the DuckDB pool."""
    return {
        "key": key,
        "deps": [dg.AssetKey(["staging", model]) for model in staging_inputs],
        "partitions_def": daily_partitions(settings),
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "group_name": "insights",
        "kinds": {"duckdb"},
        "pool": "duckdb",
    }


def build_intent_asset(settings: Settings) -> dg.AssetsDefinition:
    config = settings.insights().intent

    @dg.asset(
        **_daily_insight(settings, INTENT_KEY, INTENT_INPUTS),
        description="Per account and product line, as of the day after the partition: intent score 0-100 "
        "from third-party topics and first-party research, level None/Low/Medium/High, top topics, "
        "trend (rising/falling/steady).",
    )
    def account_intent(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        first, last = _as_of_range(context)
        with duckdb.get_connection() as con:
            levels = write_account_intent(con, first, last, config)
            high = con.execute(
                f"""
                SELECT product_line, topic, count(*) AS accounts
                FROM (SELECT product_line, unnest(top_topics) AS topic FROM {INTENT_TABLE}
                      WHERE as_of_date = ? AND intent_level = 'High')
                GROUP BY ALL ORDER BY accounts DESC, product_line, topic LIMIT 10
                """,
                [last],
            ).fetchall()
            rows = count_rows(
                con, f"SELECT count(*) FROM {INTENT_TABLE} WHERE as_of_date BETWEEN ? AND ?", [first, last]
            )
            preview = preview_markdown(con, *INTENT_TABLE.split("."))
        return dg.MaterializeResult(
            metadata={
                "as_of_dates": f"{first} .. {last}",
                "rows_written": rows,
                **{f"accounts_{level.lower()}": count for level, count in levels.items()},
                "top_topics_of_high_intent_accounts": dg.MetadataValue.md(
                    markdown_table(["product line", "topic", "accounts"], high)
                ),
                "preview": dg.MetadataValue.md(preview),
            }
        )

    return account_intent


def build_personas_asset(settings: Settings) -> dg.AssetsDefinition:
    config = settings.insights()

    @dg.asset(
        **_daily_insight(settings, PERSONAS_KEY, PERSONAS_INPUTS),
        description="As of the day after the partition: each person's fit per persona of insights.yaml "
        "(90/70/50/30/0, -1 unknown; insights.person_persona_fit), each account's engaged and missing "
        "personas, and the personas whose engagement preceded opportunities (insights.persona_importance).",
    )
    def account_buying_committee(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        first, last = _as_of_range(context)
        with duckdb.get_connection() as con:
            summary = write_personas(con, first, last, config)
            preview = preview_markdown(con, *COMMITTEE_TABLE.split("."))
        importance = summary["importance"]
        return dg.MaterializeResult(
            metadata={
                "as_of_dates": f"{first} .. {last}",
                "mean_committee_coverage": summary["mean_coverage"],
                "accounts_without_engaged_persona": summary["accounts_without_engaged_persona"],
                "persona_importance": dg.MetadataValue.md(
                    markdown_table(
                        [
                            "persona",
                            "account-weeks engaged",
                            "opportunity rate engaged",
                            "not engaged",
                            "lift",
                        ],
                        [
                            [
                                row["persona"],
                                row["account_weeks_engaged"],
                                f"{row['opportunity_rate_engaged'] or 0:.3f}",
                                f"{row['opportunity_rate_not_engaged'] or 0:.3f}",
                                f"{row['lift'] or 0:.2f}",
                            ]
                            for row in importance
                        ],
                    )
                ),
                "preview": dg.MetadataValue.md(preview),
            }
        )

    return account_buying_committee


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    return dg.Definitions(assets=[build_intent_asset(settings), build_personas_asset(settings)])
