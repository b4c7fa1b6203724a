"""Look-alike: which accounts resemble our best customers?

As of a date D (data strictly before D), every account is described by traits: firmographics of
its profile version valid at D (industry, country, employee band, revenue-per-employee band) and
behaviour of its persons in the last behaviour_days (engaged persons band, engagement events band).
Bands are half-decades (employees), quarter-decades (revenue per employee) and powers of two
(behaviour), so "similar size" means the same or a neighbouring band.

The seeds (Closed Won accounts as of D, or a configured list of account keys / website domains)
are positives against the unlabelled rest (naive-Bayes positive-unlabelled scoring):
- per trait value, the seeds' share is smoothed towards the population share with prior_strength
  pseudo-seeds, a seed counting half for its own band and a quarter for each neighbouring band;
- likelihood ratio = seed share / population share; an account's similarity is the sum over its
  traits of the log ratios, so a trait most seeds share and few accounts have weighs most, and a
  trait the seeds disagree on weighs almost nothing (which is why 2-3 seeds already work);
- lookalike_score 0-100 = the account's percentile of similarity that day (seeds included);
- nearest_seeds: the seeds sharing the most of the account's characteristic traits (the sum of
  the positive log ratios of the traits both have, neighbouring bands counting half), among the
  200 most typical seeds;
- shared_traits: the account's three traits with the highest positive log ratio.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from b2b_scoring.lib.insights.config import LookalikeConfig
from b2b_scoring.lib.insights.intent import AS_OF_DATES
from b2b_scoring.lib.matching.domains import host_sql
from b2b_scoring.lib.sql import transaction

SCHEMA = "insights"
LOOKALIKE_TABLE = f"{SCHEMA}.account_lookalike"
TRAITS_TABLE = f"{SCHEMA}.lookalike_traits"
MIN_SEEDS = 2
SHARED_TRAITS = 3
# Nearest seeds are searched among this many seeds per day, the most typical ones (highest
# similarity): with thousands of Closed Won accounts, every account x seed would not scale.
NEAREST_SEED_CANDIDATES = 200
UNKNOWN = "unknown"


# Ordinal traits: SQL of the band of an account over its profile p and behaviour b, SQL of a
# band's lower bound (as a function of the band), unit, and whether values are counts.
@dataclass(frozen=True)
class OrdinalTrait:
    band: str
    lower_bound: Callable[[str], str]
    unit: str
    counts: bool = False
    prefix: str = ""


CATEGORICAL_TRAITS = {"industry": "p.industry", "country": "p.country"}
ORDINAL_TRAITS = {
    "employees": OrdinalTrait(
        "floor(2 * log10(nullif(p.number_of_employees, 0)))",
        lambda band: f"round(pow(10, {band} / 2))",
        "employees",
    ),
    "revenue_per_employee": OrdinalTrait(
        "floor(4 * log10(nullif(p.annual_revenue, 0) / nullif(p.number_of_employees, 0)))",
        lambda band: f"round(pow(10, {band} / 4), -3)",
        "revenue per employee",
        prefix="$",
    ),
    "engaged_persons": OrdinalTrait(
        "floor(log2(1 + coalesce(b.engaged_persons, 0)))",
        lambda band: f"pow(2, {band}) - 1",
        "engaged persons",
        counts=True,
    ),
    "engagement_events": OrdinalTrait(
        "floor(log2(1 + coalesce(b.engagement_events, 0)))",
        lambda band: f"pow(2, {band}) - 1",
        "engagement events",
        counts=True,
    ),
}
# The lowest and highest bands are open-ended ("under 32 employees", "10,000+ employees") so that
# each holds at least this share of the accounts: a trait of a handful of accounts is no evidence.
MIN_TAIL_SHARE = 0.02


def _ordinal_label(trait: OrdinalTrait) -> str:
    """SQL of the label of band `band` of an ordinal trait with open-ended bands low..high."""
    start = trait.lower_bound("band")
    next_start = trait.lower_bound("(band + 1)")
    end = f"{next_start} - 1" if trait.counts else next_start
    number = f"'{trait.prefix}{{:,}}'"
    return f"""
        CASE
            WHEN band = high AND band > low THEN format({number} || '+ {trait.unit}', ({start})::BIGINT)
            WHEN band = low AND band < high AND lowest < low
                THEN format('under ' || {number} || ' {trait.unit}', ({next_start})::BIGINT)
            WHEN ({start}) = ({end}) THEN format({number} || ' {trait.unit}', ({start})::BIGINT)
            ELSE format({number} || '-' || {number} || ' {trait.unit}', ({start})::BIGINT, ({end})::BIGINT)
        END
    """


class LookalikeError(ValueError):
    """The seeds cannot define a look-alike profile (too few, or unknown accounts)."""


def _create_traits(con: duckdb.DuckDBPyConnection, config: LookalikeConfig, params: dict) -> None:
    """Temp table _traits(as_of_date, account_key, trait, band, label): one row per account and
    configured trait, for the accounts that exist at each as-of date. Ordinal traits have a band
    (NULL when the value is unknown: a category of its own), categorical ones none."""
    raw_bands = " UNION ALL ".join(
        f"SELECT as_of_date, account_key, '{name}' AS trait, "
        + (
            f"NULL::INTEGER AS band, {CATEGORICAL_TRAITS[name]} AS value"
            if name in CATEGORICAL_TRAITS
            else f"({ORDINAL_TRAITS[name].band})::INTEGER AS band, NULL AS value"
        )
        + " FROM profiles AS p LEFT JOIN behaviour AS b USING (as_of_date, account_key)"
        for name in config.traits
    )
    labels = " ".join(f"WHEN '{name}' THEN {_ordinal_label(trait)}" for name, trait in ORDINAL_TRAITS.items())
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _traits AS
        WITH dates AS ({AS_OF_DATES}),
        profiles AS (
            SELECT d.as_of_date, v.*
            FROM dates AS d
            JOIN staging.int_account_versions AS v
              ON v.valid_from < d.as_of_date AND (v.valid_to IS NULL OR v.valid_to >= d.as_of_date)
             AND v.created_at < d.as_of_date
        ),
        behaviour AS (
            SELECT d.as_of_date, v.account_key, count(DISTINCT a.person_key) AS engaged_persons,
                   sum(a.engagement_events) AS engagement_events
            FROM dates AS d
            JOIN staging.int_person_activity_days AS a
              ON a.event_date < d.as_of_date AND a.event_date >= d.as_of_date - $behaviour_days::INTEGER
             AND a.engagement_events > 0
            JOIN staging.int_person_versions AS v
              ON v.person_key = a.person_key AND v.valid_from < d.as_of_date
             AND (v.valid_to IS NULL OR v.valid_to >= d.as_of_date)
            WHERE v.account_key IS NOT NULL
            GROUP BY ALL
        ),
        raw_bands AS ({raw_bands}),
        band_shares AS (
            SELECT as_of_date, trait, band,
                   sum(count(*)) OVER (PARTITION BY as_of_date, trait ORDER BY band)
                       / sum(count(*)) OVER (PARTITION BY as_of_date, trait) AS share_up_to,
                   sum(count(*)) OVER (PARTITION BY as_of_date, trait ORDER BY band DESC)
                       / sum(count(*)) OVER (PARTITION BY as_of_date, trait) AS share_from
            FROM raw_bands WHERE band IS NOT NULL
            GROUP BY as_of_date, trait, band
        ),
        open_ends AS (
            SELECT as_of_date, trait, min(band) AS lowest,
                   min(band) FILTER (WHERE share_up_to >= {MIN_TAIL_SHARE}) AS low,
                   max(band) FILTER (WHERE share_from >= {MIN_TAIL_SHARE}) AS high
            FROM band_shares GROUP BY ALL
        ),
        bands AS (
            SELECT r.as_of_date, r.account_key, r.trait, r.value, o.lowest, o.low, o.high,
                   greatest(o.low, least(o.high, r.band)) AS band
            FROM raw_bands AS r LEFT JOIN open_ends AS o USING (as_of_date, trait)
        )
        SELECT as_of_date, account_key, trait, band,
               coalesce(
                   CASE WHEN band IS NULL THEN value ELSE CASE trait {labels} END END,
                   '{UNKNOWN} ' || replace(trait, '_', ' ')
               ) AS label
        FROM bands
        """,
        params,
    )


def _create_seeds(con: duckdb.DuckDBPyConnection, config: LookalikeConfig, params: dict) -> list[str]:
    """Temp table _seeds(as_of_date, account_key); returns the configured seeds that match no
    account (key or website domain)."""
    if config.seeds is None:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _seeds AS
            SELECT DISTINCT d.as_of_date, o.account_key
            FROM ({AS_OF_DATES}) AS d
            JOIN staging.int_opportunities AS o ON o.won_at < d.as_of_date
            """,
            {"first": params["first"], "last": params["last"]},
        )
        return []
    con.register("_seed_list", pa.table({"seed": list(config.seeds)}))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _seed_accounts AS
        SELECT s.seed, a.account_key
        FROM _seed_list AS s
        LEFT JOIN staging.stg_accounts AS a
          ON a.account_key = trim(s.seed)
          OR a.website_domain = regexp_replace({host_sql("s.seed")}, '^www\\.', '')
        """
    )
    con.unregister("_seed_list")
    unresolved = [
        row[0]
        for row in con.execute(
            "SELECT seed FROM _seed_accounts WHERE account_key IS NULL ORDER BY seed"
        ).fetchall()
    ]
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _seeds AS
        SELECT DISTINCT t.as_of_date, t.account_key
        FROM _traits AS t SEMI JOIN _seed_accounts AS s ON s.account_key = t.account_key
        """
    )
    return unresolved


def write_account_lookalike(
    con: duckdb.DuckDBPyConnection,
    first_as_of: datetime.date,
    last_as_of: datetime.date,
    config: LookalikeConfig,
) -> dict[str, object]:
    """Replace insights.account_lookalike and insights.lookalike_traits for the as-of dates
    first..last (inclusive) in one transaction; return a summary of the last date. Dates with
    fewer than 2 seeds get no rows (listed in the summary); when no date has 2, their rows are
    removed and LookalikeError says why."""
    params = {"first": first_as_of, "last": last_as_of, "behaviour_days": config.behaviour_days}
    _create_traits(con, config, params)
    unresolved = _create_seeds(con, config, params)
    seeds_per_date = dict(
        con.execute(
            f"SELECT d.as_of_date, count(s.account_key) FROM ({AS_OF_DATES}) AS d "
            "LEFT JOIN _seeds AS s USING (as_of_date) GROUP BY ALL",
            {"first": first_as_of, "last": last_as_of},
        ).fetchall()
    )
    too_few = sorted(day for day, seeds in seeds_per_date.items() if seeds < MIN_SEEDS)
    if len(too_few) == len(seeds_per_date):
        _create_tables(con)
        _delete_dates(con, first_as_of, last_as_of)
        where = (
            "accounts with a Closed Won opportunity"
            if config.seeds is None
            else "configured seeds that exist"
        )
        unknown = (
            f"; seeds matching no account key or website domain: {', '.join(unresolved)}"
            if unresolved
            else ""
        )
        raise LookalikeError(
            f"look-alike needs at least {MIN_SEEDS} seed accounts, but as of {last_as_of} there are "
            f"{seeds_per_date[last_as_of]} {where}{unknown}"
        )
    if too_few:
        con.register("_too_few", pa.table({"as_of_date": pa.array(too_few, pa.date32())}))
        for table in ("_traits", "_seeds"):
            con.execute(f"DELETE FROM {table} WHERE as_of_date IN (SELECT as_of_date FROM _too_few)")
        con.unregister("_too_few")
    _create_likelihood_ratios(con, config.prior_strength)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _scored AS
        SELECT t.as_of_date, t.account_key, t.trait, t.band, t.label, r.log_ratio
        FROM _traits AS t JOIN _ratios AS r USING (as_of_date, trait, label);

        CREATE OR REPLACE TEMP TABLE _similarity AS
        SELECT as_of_date, account_key, round(sum(log_ratio), 6) AS similarity,
               coalesce(list(label ORDER BY log_ratio DESC, label) FILTER (WHERE log_ratio > 0), [])
                   [1:{SHARED_TRAITS}] AS shared_traits
        FROM _scored GROUP BY ALL;

        CREATE OR REPLACE TEMP TABLE _candidate_seeds AS
        SELECT as_of_date, account_key
        FROM _similarity SEMI JOIN _seeds USING (as_of_date, account_key)
        QUALIFY row_number() OVER (PARTITION BY as_of_date ORDER BY similarity DESC, account_key)
            <= {NEAREST_SEED_CANDIDATES}
        """
    )
    _create_tables(con)
    with transaction(con):
        _delete_dates(con, first_as_of, last_as_of)
        con.execute(
            f"""
            INSERT INTO {TRAITS_TABLE} BY NAME
            SELECT as_of_date, trait, label, band, seed_share, population_share, likelihood_ratio,
                   accounts, seeds
            FROM _ratios
            """
        )
        con.execute(
            f"""
            INSERT INTO {LOOKALIKE_TABLE} BY NAME
            WITH closeness AS (
                SELECT a.as_of_date, a.account_key, st.account_key AS seed,
                       sum(a.log_ratio * CASE WHEN a.label = st.label THEN 1.0 ELSE 0.5 END) AS shared
                FROM _scored AS a
                JOIN (SELECT * FROM _traits SEMI JOIN _candidate_seeds USING (as_of_date, account_key)) AS st
                  ON st.as_of_date = a.as_of_date AND st.trait = a.trait
                 AND (st.label = a.label OR abs(st.band - a.band) = 1)
                WHERE a.log_ratio > 0 AND st.account_key <> a.account_key
                GROUP BY ALL
            ),
            nearest AS (
                SELECT as_of_date, account_key,
                       list(seed ORDER BY shared DESC, seed)[1:{config.nearest_seeds}] AS nearest_seeds
                FROM closeness GROUP BY ALL
            )
            SELECT p.as_of_date, p.account_key,
                   round(100 * percent_rank() OVER (PARTITION BY p.as_of_date ORDER BY p.similarity))::INTEGER
                       AS lookalike_score,
                   p.similarity, s.account_key IS NOT NULL AS is_seed,
                   coalesce(n.nearest_seeds, []) AS nearest_seeds, p.shared_traits
            FROM _similarity AS p
            LEFT JOIN nearest AS n USING (as_of_date, account_key)
            LEFT JOIN _seeds AS s USING (as_of_date, account_key)
            """
        )
    for table in (
        "_traits",
        "_seeds",
        "_ratios",
        "_scored",
        "_similarity",
        "_candidate_seeds",
        "_seed_accounts",
    ):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return _summary(con, last_as_of, seeds_per_date[last_as_of], unresolved, too_few)


def _delete_dates(con: duckdb.DuckDBPyConnection, first: datetime.date, last: datetime.date) -> None:
    for table in (LOOKALIKE_TABLE, TRAITS_TABLE):
        con.execute(
            f"DELETE FROM {table} WHERE as_of_date BETWEEN $first AND $last", {"first": first, "last": last}
        )


def _create_likelihood_ratios(con: duckdb.DuckDBPyConnection, prior_strength: float) -> None:
    """Temp table _ratios: per as-of date, trait and value, the smoothed seed share, the
    population share and their (log) ratio."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ratios AS
        WITH population AS (
            SELECT as_of_date, trait, label, any_value(band) AS band, count(*) AS accounts,
                   count(*) / sum(count(*)) OVER (PARTITION BY as_of_date, trait) AS population_share
            FROM _traits GROUP BY as_of_date, trait, label
        ),
        seed_traits AS (
            SELECT t.* FROM _traits AS t SEMI JOIN _seeds AS s USING (as_of_date, account_key)
        ),
        seed_counts AS (
            SELECT as_of_date, trait, label, count(*) AS seeds FROM seed_traits GROUP BY ALL
        ),
        -- a seed counts fully for a categorical value, half for its band and a quarter for each
        -- neighbouring band of an ordinal trait
        spread AS (
            SELECT as_of_date, trait, label, CASE WHEN band IS NULL THEN 1.0 ELSE 0.5 END AS weight
            FROM seed_traits
            UNION ALL
            SELECT s.as_of_date, s.trait, p.label, 0.25
            FROM seed_traits AS s
            JOIN population AS p
              ON p.as_of_date = s.as_of_date AND p.trait = s.trait AND abs(p.band - s.band) = 1
        ),
        spread_counts AS (SELECT as_of_date, trait, label, sum(weight) AS weight FROM spread GROUP BY ALL),
        totals AS (SELECT as_of_date, count(*) AS seeds FROM _seeds GROUP BY ALL)
        SELECT p.as_of_date, p.trait, p.label, p.band, p.accounts, coalesce(c.seeds, 0) AS seeds,
               p.population_share,
               (coalesce(w.weight, 0) + {float(prior_strength)} * p.population_share)
                   / (sum(coalesce(w.weight, 0)) OVER (PARTITION BY p.as_of_date, p.trait)
                      + {float(prior_strength)}) AS seed_share,
               seed_share / p.population_share AS likelihood_ratio,
               ln(likelihood_ratio) AS log_ratio
        FROM population AS p
        LEFT JOIN spread_counts AS w USING (as_of_date, trait, label)
        LEFT JOIN seed_counts AS c USING (as_of_date, trait, label)
        """
    )


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {LOOKALIKE_TABLE} (
            account_key VARCHAR NOT NULL,
            as_of_date DATE NOT NULL,
            lookalike_score INTEGER NOT NULL,
            similarity DOUBLE NOT NULL,
            is_seed BOOLEAN NOT NULL,
            nearest_seeds VARCHAR[] NOT NULL,
            shared_traits VARCHAR[] NOT NULL,
            PRIMARY KEY (account_key, as_of_date)
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {TRAITS_TABLE} (
            as_of_date DATE NOT NULL,
            trait VARCHAR NOT NULL,
            label VARCHAR NOT NULL,
            band INTEGER,
            seed_share DOUBLE NOT NULL,
            population_share DOUBLE NOT NULL,
            likelihood_ratio DOUBLE NOT NULL,
            accounts BIGINT NOT NULL,
            seeds BIGINT NOT NULL,
            PRIMARY KEY (as_of_date, trait, label)
        )
        """
    )


def _summary(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime.date,
    seeds: int,
    unresolved: Sequence[str],
    too_few: Sequence[datetime.date],
) -> dict[str, object]:
    characteristic = con.execute(
        f"""
        SELECT trait, label, seeds, round(seed_share, 3), round(population_share, 3),
               round(likelihood_ratio, 2)
        FROM {TRAITS_TABLE} WHERE as_of_date = ? AND likelihood_ratio > 1
        ORDER BY likelihood_ratio DESC, trait, label LIMIT 10
        """,
        [as_of],
    ).fetchall()
    return {
        "seeds": seeds,
        "unresolved_seeds": list(unresolved),
        "dates_with_too_few_seeds": [day.isoformat() for day in too_few],
        "characteristic_traits": characteristic,
    }
