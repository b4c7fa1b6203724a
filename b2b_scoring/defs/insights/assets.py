"""Daily insights for sales: account intent (who is in market now, for which product line)."""

import datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.partitions import daily_partitions
from b2b_scoring.lib.insights.intent import INTENT_TABLE, write_account_intent
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import count_rows, preview_markdown

INTENT_KEY = dg.AssetKey(INTENT_TABLE.split("."))
INTENT_INPUTS = ("int_account_intent_signals", "int_person_activity_days", "stg_persons", "stg_accounts")


def build_intent_asset(settings: Settings) -> dg.AssetsDefinition:
    config = settings.insights().intent

    @dg.asset(
        key=INTENT_KEY,
        deps=[dg.AssetKey(["staging", model]) for model in INTENT_INPUTS],
        partitions_def=daily_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="insights",
        kinds={"duckdb"},
        pool="duckdb",
        description="Per account and product line, as of the day after the partition: intent score 0-100 "
        "from third-party topics and first-party research, level None/Low/Medium/High, top topics, "
        "trend (rising/falling/steady).",
    )
    def account_intent(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        window = context.partition_time_window
        # Partition P holds the intent as of P + 1: everything of P and before.
        first = window.start.date() + datetime.timedelta(days=1)
        last = window.end.date()
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
                    "| product line | topic | accounts |\n|---|---|---|\n"
                    + "\n".join(f"| {line} | {topic} | {n} |" for line, topic, n in high)
                ),
                "preview": dg.MetadataValue.md(preview),
            }
        )

    return account_intent


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[build_intent_asset(Settings.from_env())])
