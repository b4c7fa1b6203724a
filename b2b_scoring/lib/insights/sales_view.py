"""The sales view: per account and day, who to call this week and why.

One row per scored account of an account goal and score date, joining what the other stages
computed for that as-of date: fit (the goal's score, tier and top reasons), look-alike (score,
nearest seeds, shared traits), intent (the product line with the highest intent: level, topics,
trend) and the buying committee (engaged and missing personas). Each row gets an action:
- call now: fit tier A or B and intent Medium or High (a good fit in market now);
- nurture: fit tier A or B, intent Low or None (a good fit, not in market yet);
- watch: tier C with intent Medium or High (in market, a weaker fit);
- no action: the rest;
a call_rank (1 = first call: by action, then fit score, intent score and look-alike score) and a
one-line `why` a seller can read.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import duckdb

from b2b_scoring.lib.exports import export_csv_and_parquet
from b2b_scoring.lib.insights.intent import INTENT_TABLE
from b2b_scoring.lib.insights.lookalike import LOOKALIKE_TABLE
from b2b_scoring.lib.insights.personas import COMMITTEE_TABLE
from b2b_scoring.lib.scoring.store import SCORE_TABLES
from b2b_scoring.lib.sql import table_exists, transaction

SALES_VIEW_TABLE = "insights.account_sales_view"
ACTIONS = ("call now", "nurture", "watch", "no action")

# Each input, and an empty stand-in with its columns for when it was never materialized.
_INPUTS = {
    INTENT_TABLE: "account_key VARCHAR, as_of_date DATE, product_line VARCHAR, intent_score DOUBLE, "
    "intent_level VARCHAR, top_topics VARCHAR[], trend VARCHAR",
    LOOKALIKE_TABLE: "account_key VARCHAR, as_of_date DATE, lookalike_score INTEGER, is_seed BOOLEAN, "
    "nearest_seeds VARCHAR[], shared_traits VARCHAR[]",
    COMMITTEE_TABLE: "account_key VARCHAR, as_of_date DATE, engaged_personas VARCHAR[], "
    "missing_personas VARCHAR[]",
}


def _source(con: duckdb.DuckDBPyConnection, table: str) -> str:
    if table_exists(con, table):
        return table
    columns = ", ".join(
        f"NULL::{column_type} AS {name}"
        for name, column_type in (column.strip().split(" ", 1) for column in _INPUTS[table].split(", "))
    )
    return f"(SELECT {columns} WHERE false)"


def missing_inputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The insights tables the sales view reads that do not exist (their columns stay empty)."""
    return [table for table in _INPUTS if not table_exists(con, table)]


def write_sales_view(con: duckdb.DuckDBPyConnection, goal: str, score_date: datetime.date) -> dict[str, int]:
    """Replace the goal's sales view of score_date; return the accounts per action."""
    con.execute(
        f"""
        CREATE SCHEMA IF NOT EXISTS {SALES_VIEW_TABLE.split(".")[0]};
        CREATE TABLE IF NOT EXISTS {SALES_VIEW_TABLE} (
            account_key VARCHAR NOT NULL, account_name VARCHAR, goal VARCHAR NOT NULL,
            as_of_date DATE NOT NULL,
            call_rank INTEGER NOT NULL, action VARCHAR NOT NULL, why VARCHAR NOT NULL,
            fit_score INTEGER NOT NULL, fit_tier VARCHAR NOT NULL, fit_reasons VARCHAR[] NOT NULL,
            lookalike_score INTEGER, nearest_seeds VARCHAR[], shared_traits VARCHAR[],
            intent_level VARCHAR, intent_score DOUBLE, intent_product_line VARCHAR, intent_topics VARCHAR[],
            intent_trend VARCHAR, engaged_personas VARCHAR[], missing_personas VARCHAR[],
            PRIMARY KEY (account_key, goal, as_of_date)
        )
        """
    )
    parameters = {"goal": goal, "day": score_date}
    with transaction(con):
        con.execute(f"DELETE FROM {SALES_VIEW_TABLE} WHERE goal = $goal AND as_of_date = $day", parameters)
        con.execute(
            f"""
            INSERT INTO {SALES_VIEW_TABLE} BY NAME
            WITH fit AS (
                SELECT account_key, score, tier, probability,
                       list_transform(influential_factors, lambda f: f.reason)[1:3] AS reasons
                FROM {SCORE_TABLES["account"]} WHERE goal = $goal AND score_date = $day
            ),
            intent AS (
                SELECT account_key,
                       arg_max(struct_pack(product_line, intent_score, intent_level, top_topics, trend),
                               (intent_score, product_line)) AS best
                FROM {_source(con, INTENT_TABLE)} WHERE as_of_date = $day GROUP BY account_key
            ),
            lookalike AS (
                SELECT * FROM {_source(con, LOOKALIKE_TABLE)} WHERE as_of_date = $day
            ),
            nearest_names AS (
                SELECT n.account_key, list(coalesce(a.account_name, n.seed) ORDER BY n.position) AS names
                FROM (
                    SELECT account_key, unnest(nearest_seeds) AS seed,
                           generate_subscripts(nearest_seeds, 1) AS position
                    FROM lookalike
                ) AS n
                LEFT JOIN staging.stg_accounts AS a ON a.account_key = n.seed
                GROUP BY n.account_key
            ),
            joined AS (
                SELECT f.account_key, a.account_name, f.score AS fit_score, f.tier AS fit_tier,
                       f.reasons AS fit_reasons, l.lookalike_score, l.nearest_seeds, l.shared_traits,
                       nn.names AS nearest_seed_names,
                       i.best.intent_level, i.best.intent_score, i.best.product_line AS intent_product_line,
                       i.best.top_topics AS intent_topics, i.best.trend AS intent_trend,
                       c.engaged_personas, c.missing_personas,
                       CASE
                           WHEN f.tier IN ('A', 'B') AND i.best.intent_level IN ('High', 'Medium')
                               THEN 'call now'
                           WHEN f.tier IN ('A', 'B') THEN 'nurture'
                           WHEN i.best.intent_level IN ('High', 'Medium') THEN 'watch'
                           ELSE 'no action'
                       END AS action
                FROM fit AS f
                LEFT JOIN staging.stg_accounts AS a USING (account_key)
                LEFT JOIN intent AS i USING (account_key)
                LEFT JOIN lookalike AS l USING (account_key)
                LEFT JOIN nearest_names AS nn USING (account_key)
                LEFT JOIN (SELECT * FROM {_source(con, COMMITTEE_TABLE)} WHERE as_of_date = $day) AS c
                  USING (account_key)
            )
            SELECT * EXCLUDE (nearest_seed_names), $goal AS goal, $day AS as_of_date,
                   row_number() OVER (
                       ORDER BY list_position({list(ACTIONS)}, action), fit_score DESC,
                                coalesce(intent_score, 0) DESC, coalesce(lookalike_score, 0) DESC, account_key
                   ) AS call_rank,
                   concat_ws('; ',
                       format('fit {{}} (tier {{}})', fit_score, fit_tier)
                           || CASE WHEN len(fit_reasons) > 0 THEN ': ' || array_to_string(fit_reasons, ', ')
                                   ELSE '' END,
                       CASE WHEN intent_level IN ('High', 'Medium', 'Low') THEN
                           format('intent {{}} for {{}} ({{}}), {{}}', intent_level, intent_product_line,
                                  array_to_string(intent_topics, ', '), intent_trend) END,
                       CASE WHEN len(nearest_seeds) > 0 THEN
                           format('looks like {{}} ({{}})', array_to_string(nearest_seed_names, ', '),
                                  array_to_string(shared_traits, ', ')) END,
                       CASE WHEN len(engaged_personas) > 0 THEN
                           'engaged: ' || array_to_string(engaged_personas, ', ') END,
                       CASE WHEN len(missing_personas) > 0 THEN
                           'missing: ' || array_to_string(missing_personas, ', ') END
                   ) AS why
            FROM joined
            """,
            parameters,
        )
    return dict(
        con.execute(
            f"SELECT action, count(*) FROM {SALES_VIEW_TABLE} "
            "WHERE goal = $goal AND as_of_date = $day GROUP BY ALL",
            parameters,
        ).fetchall()
    )


def export_sales_view(
    con: duckdb.DuckDBPyConnection, goal: str, score_date: datetime.date, directory: Path
) -> tuple[int, Path, Path]:
    """The goal's sales view of score_date in call order, as spreadsheet-safe CSV (lists joined
    with '; ') and as Parquet: (rows, csv path, parquet path)."""
    return export_csv_and_parquet(
        con,
        f"""
        SELECT call_rank AS Call_Rank__c, account_key AS Account_ID, account_name AS Account_Name,
               action AS Sales_Action__c, why AS Sales_Why__c, fit_score AS Predictive_Score__c,
               fit_tier AS Score_Tier__c, lookalike_score AS Lookalike_Score__c,
               array_to_string(nearest_seeds, '; ') AS Lookalike_Nearest_Customers__c,
               intent_level AS Intent_Level__c, intent_product_line AS Intent_Product_Line__c,
               array_to_string(intent_topics, '; ') AS Intent_Topics__c, intent_trend AS Intent_Trend__c,
               array_to_string(engaged_personas, '; ') AS Engaged_Personas__c,
               array_to_string(missing_personas, '; ') AS Missing_Personas__c,
               goal AS Scoring_Goal__c, as_of_date AS Score_Date__c
        FROM {SALES_VIEW_TABLE} WHERE goal = $goal AND as_of_date = $day
        ORDER BY call_rank
        """,
        {"goal": goal, "day": score_date},
        directory / goal / f"account_sales_view_{score_date.isoformat()}",
    )
