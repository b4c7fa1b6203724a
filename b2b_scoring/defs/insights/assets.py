"""Daily insights for sales: account intent (who is in market now, for which product line),
personas (fit of each person, buying-committee coverage of each account, learned importance) and
look-alikes (which accounts resemble the best customers)."""

import datetime
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.partitions import daily_partitions
from b2b_scoring.defs.scoring.assets import (
    DATE,
    drift_key,
    export_metadata,
    score_date_of,
    score_key,
    scoring_partitions,
)
from b2b_scoring.lib.insights.intent import INTENT_TABLE, write_account_intent
from b2b_scoring.lib.insights.lookalike import LOOKALIKE_TABLE, LookalikeError, write_account_lookalike
from b2b_scoring.lib.insights.personas import COMMITTEE_TABLE, write_personas
from b2b_scoring.lib.insights.sales_view import (
    ACTIONS,
    SALES_VIEW_TABLE,
    export_sales_view,
    missing_inputs,
    write_sales_view,
)
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import count_rows, markdown_table, preview_markdown

INTENT_KEY = dg.AssetKey(INTENT_TABLE.split("."))
INTENT_INPUTS = ("int_account_intent_signals", "int_person_activity_days", "stg_persons", "stg_accounts")
PERSONAS_KEY = dg.AssetKey(COMMITTEE_TABLE.split("."))
PERSONAS_INPUTS = ("int_person_versions", "int_person_activity_days", "int_opportunities", "stg_accounts")
LOOKALIKE_KEY = dg.AssetKey(LOOKALIKE_TABLE.split("."))
SALES_VIEW_KEY = dg.AssetKey(SALES_VIEW_TABLE.split("."))
LOOKALIKE_INPUTS = (
    "int_account_versions",
    "int_person_versions",
    "int_person_activity_days",
    "int_opportunities",
    "stg_accounts",
)


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


def build_lookalike_asset(settings: Settings) -> dg.AssetsDefinition:
    config = settings.insights().lookalike
    seeds = (
        "accounts with a Closed Won opportunity"
        if config.seeds is None
        else f"{len(config.seeds)} seed accounts"
    )

    @dg.asset(
        **_daily_insight(settings, LOOKALIKE_KEY, LOOKALIKE_INPUTS),
        description=f"Per account, as of the day after the partition: how much it resembles the {seeds} "
        "of insights.yaml (look-alike score 0-100 from firmographics and behaviour), its nearest seeds and "
        "the traits it shares with them; the seeds' characteristic traits in insights.lookalike_traits.",
    )
    def account_lookalike(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        first, last = _as_of_range(context)
        with duckdb.get_connection() as con:
            try:
                summary = write_account_lookalike(con, first, last, config)
            except LookalikeError as error:
                # Like a goal without enough history: say why, and let the rest of the day run.
                context.log.warning(str(error))
                return dg.MaterializeResult(
                    metadata={"as_of_dates": f"{first} .. {last}", "not_scored_because": str(error)}
                )
            preview = preview_markdown(con, *LOOKALIKE_TABLE.split("."))
        if summary["unresolved_seeds"]:
            context.log.warning(f"seeds matching no account: {', '.join(summary['unresolved_seeds'])}")
        return dg.MaterializeResult(
            metadata={
                "as_of_dates": f"{first} .. {last}",
                "seeds": summary["seeds"],
                "unresolved_seeds": ", ".join(summary["unresolved_seeds"]),
                "dates_with_too_few_seeds": len(summary["dates_with_too_few_seeds"]),
                "characteristic_traits": dg.MetadataValue.md(
                    markdown_table(
                        ["trait", "value", "seeds", "seed share", "population share", "likelihood ratio"],
                        summary["characteristic_traits"],
                    )
                ),
                "preview": dg.MetadataValue.md(preview),
            }
        )

    return account_lookalike


def build_sales_view_asset(settings: Settings) -> dg.AssetsDefinition | None:
    """None without an account goal (the view's fit is an account score)."""
    partitions = scoring_partitions(settings, "account")
    if partitions is None:
        return None
    by_day = dg.MultiToSingleDimensionPartitionMapping(DATE)

    @dg.asset(
        key=SALES_VIEW_KEY,
        partitions_def=partitions,
        deps=[
            score_key("account"),
            drift_key("account"),
            *(
                dg.AssetDep(key, partition_mapping=by_day)
                for key in (INTENT_KEY, LOOKALIKE_KEY, PERSONAS_KEY)
            ),
        ],
        group_name="scoring",
        kinds={"duckdb", "csv", "parquet"},
        pool="duckdb",
        description="Who to call this week and why: per account of the goal and day, the fit score and "
        "reasons, look-alike score and nearest customers, intent level, topics and trend, engaged and "
        "missing personas, an action (call now / nurture / watch / no action) and call rank; exported "
        "with the CRM export (<data dir>/exports/crm/<goal>/account_sales_view_<date>.csv and .parquet).",
    )
    def account_sales_view(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        goal, score_date = score_date_of(context)
        with duckdb.get_connection() as con:
            missing = missing_inputs(con)
            actions = write_sales_view(con, goal, score_date)
            rows, csv_path, parquet_path = export_sales_view(
                con, goal, score_date, settings.data_dir / "exports" / "crm"
            )
            first_calls = con.execute(
                f"SELECT call_rank, account_key, account_name, action, why FROM {SALES_VIEW_TABLE} "
                "WHERE goal = ? AND as_of_date = ? ORDER BY call_rank LIMIT 10",
                [goal, score_date],
            ).fetchall()
        if missing:
            context.log.warning(f"not materialized yet, their columns are empty: {', '.join(missing)}")
        return dg.MaterializeResult(
            metadata={
                "goal": goal,
                "score_date": str(score_date),
                **export_metadata(rows, csv_path, parquet_path),
                **{f"accounts_{action.replace(' ', '_')}": actions.get(action, 0) for action in ACTIONS},
                "missing_inputs": ", ".join(missing),
                "first_calls": dg.MetadataValue.md(
                    markdown_table(["rank", "account", "name", "action", "why"], first_calls)
                ),
            }
        )

    return account_sales_view


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    assets = [
        build_intent_asset(settings),
        build_personas_asset(settings),
        build_lookalike_asset(settings),
        build_sales_view_asset(settings),
    ]
    return dg.Definitions(assets=[asset for asset in assets if asset is not None])
