"""Personas: is this the right person, and who of the buying committee is engaged?

As of a date D (data strictly before D), from the profile version valid at D (job function and
seniority parsed from the title by the feature layer, staging.int_person_versions):
- insights.person_persona_fit: per person and persona, the fit 90 / 70 / 50 / 30 / 0 (-1: the
  title gives no function) as described in insights.yaml;
- insights.account_buying_committee: per account, the personas engaged (a person with fit >= 70
  had engagement events within persona_engagement_days) and the personas missing;
- insights.persona_importance: learned from the history, per persona, how often an account opened
  an opportunity within the next 90 days when the persona was engaged against when it was not,
  on weekly as-of dates whose 90 days have passed by D (lift = the ratio).
"""

from __future__ import annotations

import datetime

import duckdb
import pyarrow as pa

from b2b_scoring.lib.insights.config import SENIORITY_LADDER, InsightsConfig
from b2b_scoring.lib.insights.intent import AS_OF_DATES
from b2b_scoring.lib.sql import transaction

SCHEMA = "insights"
FIT_TABLE = f"{SCHEMA}.person_persona_fit"
COMMITTEE_TABLE = f"{SCHEMA}.account_buying_committee"
IMPORTANCE_TABLE = f"{SCHEMA}.persona_importance"
ENGAGED_FIT = 70
OPPORTUNITY_WINDOW_DAYS = 90

_FIT_SQL = """
    CASE
        WHEN v.job_function IS NULL THEN -1
        WHEN list_contains(c.functions, v.job_function) AND s.rank >= c.min_rank THEN 90
        WHEN list_contains(c.functions, v.job_function) AND s.rank = c.min_rank - 1 THEN 70
        WHEN list_contains(c.functions, v.job_function) THEN 50
        WHEN s.rank >= c.min_rank THEN 30
        ELSE 0
    END
"""


def _register_personas(con: duckdb.DuckDBPyConnection, config: InsightsConfig) -> None:
    con.register(
        "_personas",
        pa.table(
            {
                "persona": [p.name for p in config.personas],
                "functions": [list(p.functions) for p in config.personas],
                "min_rank": [SENIORITY_LADDER.index(p.min_seniority) for p in config.personas],
            }
        ),
    )
    con.register(
        "_seniorities",
        pa.table({"seniority": list(SENIORITY_LADDER), "rank": list(range(len(SENIORITY_LADDER)))}),
    )


def _fit_query(dates_sql: str) -> str:
    """Per as_of_date of `dates_sql`, person, account and persona: the persona fit."""
    return f"""
        SELECT d.as_of_date, v.person_key, v.account_key, c.persona, {_FIT_SQL} AS fit
        FROM ({dates_sql}) AS d
        JOIN staging.int_person_versions AS v
          ON v.valid_from < d.as_of_date AND (v.valid_to IS NULL OR v.valid_to >= d.as_of_date)
         AND v.created_at < d.as_of_date
        LEFT JOIN _seniorities AS s ON s.seniority = v.job_seniority
        CROSS JOIN _personas AS c
    """


def _engaged_query(fits: str, engagement_days: int) -> str:
    """Per as_of_date, account and persona of the fits in relation `fits`: the engaged persons of
    fit >= 70."""
    return f"""
        SELECT f.as_of_date, f.account_key, f.persona, count(DISTINCT f.person_key) AS engaged_persons
        FROM {fits} AS f
        JOIN staging.int_person_activity_days AS a
          ON a.person_key = f.person_key AND a.engagement_events > 0
         AND a.event_date < f.as_of_date AND a.event_date >= f.as_of_date - {int(engagement_days)}
        WHERE f.fit >= {ENGAGED_FIT} AND f.account_key IS NOT NULL
        GROUP BY ALL
    """


def write_personas(
    con: duckdb.DuckDBPyConnection,
    first_as_of: datetime.date,
    last_as_of: datetime.date,
    config: InsightsConfig,
) -> dict[str, object]:
    """Replace the persona fits and buying committees of the as-of dates first..last and the
    persona importance (learned up to last), in one transaction; return a summary of last."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {FIT_TABLE} (
            person_key VARCHAR NOT NULL, as_of_date DATE NOT NULL, persona VARCHAR NOT NULL,
            fit INTEGER NOT NULL, PRIMARY KEY (person_key, as_of_date, persona)
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {COMMITTEE_TABLE} (
            account_key VARCHAR NOT NULL, as_of_date DATE NOT NULL, engaged_personas VARCHAR[] NOT NULL,
            missing_personas VARCHAR[] NOT NULL, engaged_persons BIGINT NOT NULL, coverage DOUBLE NOT NULL,
            PRIMARY KEY (account_key, as_of_date)
        )
        """
    )
    _register_personas(con, config)
    dates = AS_OF_DATES
    dates_params = {"first": first_as_of, "last": last_as_of}
    weekly = (
        "SELECT unnest(generate_series((SELECT min(opened_at)::DATE FROM staging.int_opportunities), "
        f"$last::DATE - {OPPORTUNITY_WINDOW_DAYS}, INTERVAL 7 DAY))::DATE AS as_of_date"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _fits AS {_fit_query(dates)}", dates_params)
    with transaction(con):
        for table in (FIT_TABLE, COMMITTEE_TABLE):
            con.execute(f"DELETE FROM {table} WHERE as_of_date BETWEEN $first AND $last", dates_params)
        con.execute(f"INSERT INTO {FIT_TABLE} BY NAME SELECT person_key, as_of_date, persona, fit FROM _fits")
        con.execute(
            f"""
            INSERT INTO {COMMITTEE_TABLE} BY NAME
            WITH engaged AS ({_engaged_query("_fits", config.persona_engagement_days)}),
            per_account AS (
                SELECT d.as_of_date, a.account_key,
                       coalesce(list(e.persona ORDER BY e.persona) FILTER (WHERE e.persona IS NOT NULL), [])
                           AS engaged_personas,
                       coalesce(sum(e.engaged_persons), 0) AS engaged_persons
                FROM ({dates}) AS d
                CROSS JOIN staging.stg_accounts AS a
                LEFT JOIN engaged AS e ON e.as_of_date = d.as_of_date AND e.account_key = a.account_key
                GROUP BY d.as_of_date, a.account_key
            ),
            every_persona AS (SELECT list(persona ORDER BY persona) AS personas FROM _personas)
            SELECT as_of_date, account_key, engaged_personas,
                   list_filter(personas, lambda p: NOT list_contains(engaged_personas, p))
                       AS missing_personas,
                   engaged_persons, len(engaged_personas) / len(personas) AS coverage
            FROM per_account CROSS JOIN every_persona
            """,
            dates_params,
        )
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {IMPORTANCE_TABLE} AS
            WITH outcomes AS (
                SELECT d.as_of_date, a.account_key,
                       bool_or(o.opened_at::DATE >= d.as_of_date
                               AND o.opened_at::DATE < d.as_of_date + {OPPORTUNITY_WINDOW_DAYS}) AS opened
                FROM ({weekly}) AS d
                CROSS JOIN staging.stg_accounts AS a
                LEFT JOIN staging.int_opportunities AS o ON o.account_key = a.account_key
                GROUP BY ALL
            ),
            engaged AS ({_engaged_query(f"({_fit_query(weekly)})", config.persona_engagement_days)}),
            per_persona AS (
                SELECT p.persona, coalesce(o.opened, false) AS opened, e.account_key IS NOT NULL AS engaged
                FROM outcomes AS o
                CROSS JOIN _personas AS p
                LEFT JOIN engaged AS e
                  ON e.as_of_date = o.as_of_date AND e.account_key = o.account_key AND e.persona = p.persona
            )
            SELECT persona, $last::DATE AS learned_as_of,
                   count(*) FILTER (WHERE engaged) AS account_weeks_engaged,
                   avg(opened::INTEGER) FILTER (WHERE engaged) AS opportunity_rate_engaged,
                   avg(opened::INTEGER) FILTER (WHERE NOT engaged) AS opportunity_rate_not_engaged,
                   avg(opened::INTEGER) FILTER (WHERE engaged)
                       / nullif(avg(opened::INTEGER) FILTER (WHERE NOT engaged), 0) AS lift
            FROM per_persona
            GROUP BY persona
            ORDER BY lift DESC NULLS LAST
            """,
            {"last": last_as_of},
        )
    for name in ("_personas", "_seniorities"):
        con.unregister(name)
    con.execute("DROP TABLE _fits")
    coverage = con.execute(
        f"SELECT avg(coverage), count(*) FILTER (WHERE coverage = 0) FROM {COMMITTEE_TABLE} "
        "WHERE as_of_date = ?",
        [last_as_of],
    ).fetchone()
    importance = con.execute(
        "SELECT persona, account_weeks_engaged, opportunity_rate_engaged, opportunity_rate_not_engaged, "
        f"lift FROM {IMPORTANCE_TABLE}"
    ).fetchall()
    return {
        "mean_coverage": float(coverage[0] or 0.0),
        "accounts_without_engaged_persona": int(coverage[1]),
        "importance": [
            {
                "persona": persona,
                "account_weeks_engaged": int(weeks),
                "opportunity_rate_engaged": rate_engaged,
                "opportunity_rate_not_engaged": rate_not,
                "lift": lift,
            }
            for persona, weeks, rate_engaged, rate_not, lift in importance
        ],
    }
