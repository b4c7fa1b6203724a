"""Lead-to-account matches in the warehouse, kept current incrementally.

- `matching.account_person_relations`: one row per matched person (the table downstream models
  read), relationship_source = lead_to_account_matching.
- `matching.match_decisions`: the latest decision for every known person without a CRM account
  (matched, ambiguous, below_threshold, no_candidate), with the profile fingerprint it was made on.
- `matching.matcher_runs`: one row per run: model, threshold, validation and counts.

A run re-matches only the persons whose profile (e-mail, company name, website, country) changed
since their last decision, unless the accounts changed, which can change anyone's best account.
Persons the CRM has since linked, or that are gone, lose their matched relation.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from dataclasses import dataclass

import duckdb

from b2b_scoring.lib.matching.matcher import RELATIONSHIP_SOURCE, MatchConfig, MatcherModel, match_persons
from b2b_scoring.lib.sql import count_rows, transaction

SCHEMA = "matching"
RELATIONS_TABLE = f"{SCHEMA}.account_person_relations"
DECISIONS_TABLE = f"{SCHEMA}.match_decisions"
RUNS_TABLE = f"{SCHEMA}.matcher_runs"
PERSONS_QUERY = "SELECT * FROM raw.persons"
ACCOUNTS_QUERY = "SELECT * FROM raw.accounts"
CONFIDENCE_BINS = tuple(round(0.1 * k, 1) for k in range(11))

_PROFILE_FINGERPRINT = (
    "md5(concat_ws('|', coalesce(email, ''), coalesce(company_name, ''), coalesce(company_website, ''), "
    "coalesce(country, '')))"
)
# Rows of persons re-matched now, of persons no longer known without an account (linked in the
# CRM since, profile emptied) and of persons gone: replaced or dropped by a run.
_REPLACED_OR_GONE = (
    "person_key IN (SELECT person_key FROM match_decisions) "
    "OR person_key NOT IN (SELECT person_key FROM m_persons WHERE person_class = 'known')"
)
_ACCOUNTS_FINGERPRINT = (
    "SELECT coalesce(bit_xor(hash(account_key, account_name, website, country)), 0)::VARCHAR "
    "FROM raw.accounts"
)


@dataclass(frozen=True)
class MatchingSummary:
    match_date: datetime.date
    full_rematch: bool
    persons_by_class: dict[str, int]
    persons_rematched: int
    decisions: dict[str, int]
    relations_total: int
    relations_added: int
    relations_removed: int
    confidence_histogram: list[dict[str, float]]
    model: MatcherModel


def create_matching_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {RELATIONS_TABLE} (
            person_key VARCHAR PRIMARY KEY,
            account_key VARCHAR NOT NULL,
            confidence DOUBLE NOT NULL,
            relationship_source VARCHAR NOT NULL,
            match_date DATE NOT NULL,
            evidence VARCHAR[] NOT NULL,
            name_similarity DOUBLE
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {DECISIONS_TABLE} (
            person_key VARCHAR PRIMARY KEY,
            profile_fingerprint VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            account_key VARCHAR,
            best_account_key VARCHAR,
            best_confidence DOUBLE,
            evidence VARCHAR[] NOT NULL,
            candidates BIGINT NOT NULL,
            decided_on DATE NOT NULL
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
            match_date DATE NOT NULL,
            run_at TIMESTAMP NOT NULL,
            accounts_fingerprint VARCHAR NOT NULL,
            full_rematch BOOLEAN NOT NULL,
            persons_rematched BIGINT NOT NULL,
            threshold DOUBLE NOT NULL,
            threshold_source VARCHAR NOT NULL,
            model JSON NOT NULL,
            persons_by_class JSON NOT NULL,
            decisions JSON NOT NULL
        )
        """
    )


def run_matching(
    con: duckdb.DuckDBPyConnection, match_date: datetime.date, config: MatchConfig
) -> MatchingSummary:
    """Match the known persons of raw.persons without a CRM account whose profile changed (all of
    them when raw.accounts changed) and keep the three matching tables current, atomically."""
    create_matching_tables(con)
    accounts_fingerprint = con.execute(_ACCOUNTS_FINGERPRINT).fetchone()[0]
    last_fingerprint = con.execute(
        f"SELECT accounts_fingerprint FROM {RUNS_TABLE} ORDER BY run_at DESC LIMIT 1"
    ).fetchall()
    full_rematch = not last_fingerprint or last_fingerprint[0][0] != accounts_fingerprint
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_profiles AS
        SELECT person_key, {_PROFILE_FINGERPRINT} AS profile_fingerprint FROM raw.persons
        """
    )
    changed = (
        "SELECT person_key FROM m_profiles"
        if full_rematch
        else f"""SELECT p.person_key FROM m_profiles AS p LEFT JOIN {DECISIONS_TABLE} AS d USING (person_key)
                 WHERE d.profile_fingerprint IS DISTINCT FROM p.profile_fingerprint"""
    )
    run = match_persons(con, PERSONS_QUERY, ACCOUNTS_QUERY, config, to_match_query=changed)
    rematched = sum(run.decisions.values())
    with transaction(con):
        relations_before = count_rows(con, f"SELECT count(*) FROM {RELATIONS_TABLE}")
        kept = count_rows(con, f"SELECT count(*) FROM {RELATIONS_TABLE} WHERE NOT ({_REPLACED_OR_GONE})")
        for table in (DECISIONS_TABLE, RELATIONS_TABLE):
            con.execute(f"DELETE FROM {table} WHERE {_REPLACED_OR_GONE}")
        con.execute(
            f"""
            INSERT INTO {DECISIONS_TABLE} BY NAME
            SELECT d.person_key, p.profile_fingerprint, d.status, d.account_key, d.best_account_key,
                   d.best_confidence, d.evidence, d.candidates, $match_date AS decided_on
            FROM match_decisions AS d JOIN m_profiles AS p USING (person_key)
            """,
            {"match_date": match_date},
        )
        con.execute(
            f"""
            INSERT INTO {RELATIONS_TABLE} BY NAME
            SELECT person_key, account_key, best_confidence AS confidence,
                   $source AS relationship_source, $match_date AS match_date, evidence, name_similarity
            FROM match_decisions WHERE status = 'matched'
            """,
            {"source": RELATIONSHIP_SOURCE, "match_date": match_date},
        )
        relations_total = count_rows(con, f"SELECT count(*) FROM {RELATIONS_TABLE}")
        con.execute(
            f"""
            INSERT INTO {RUNS_TABLE} VALUES ($match_date, now()::TIMESTAMP, $accounts_fingerprint,
                $full_rematch, $persons_rematched, $threshold, $threshold_source, $model,
                $persons_by_class, $decisions)
            """,
            {
                "match_date": match_date,
                "accounts_fingerprint": accounts_fingerprint,
                "full_rematch": full_rematch,
                "persons_rematched": rematched,
                "threshold": run.model.threshold,
                "threshold_source": run.model.threshold_source,
                "model": json.dumps(dataclasses.asdict(run.model)),
                "persons_by_class": json.dumps(run.persons_by_class),
                "decisions": json.dumps(run.decisions),
            },
        )
    return MatchingSummary(
        match_date=match_date,
        full_rematch=full_rematch,
        persons_by_class=run.persons_by_class,
        persons_rematched=rematched,
        decisions=_current_decisions(con),
        relations_total=relations_total,
        relations_added=relations_total - kept,
        relations_removed=relations_before - kept,
        confidence_histogram=confidence_histogram(con),
        model=run.model,
    )


def confidence_histogram(con: duckdb.DuckDBPyConnection) -> list[dict[str, float]]:
    """Current matched relations per confidence bin [0.0, 0.1), ..., [0.9, 1.0] (the last closed)."""
    edges = list(CONFIDENCE_BINS)
    rows = con.execute(
        f"""
        WITH bins AS (SELECT unnest($low) AS low, unnest($high) AS high)
        SELECT low, high, count(r.confidence) AS persons
        FROM bins LEFT JOIN {RELATIONS_TABLE} AS r
          ON r.confidence >= low AND (r.confidence < high OR (high = 1.0 AND r.confidence <= high))
        GROUP BY low, high ORDER BY low
        """,
        {"low": edges[:-1], "high": edges[1:]},
    ).fetchall()
    return [{"from": low, "to": high, "persons": persons} for low, high, persons in rows]


def _current_decisions(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(
        con.execute(f"SELECT status, count(*) FROM {DECISIONS_TABLE} GROUP BY ALL ORDER BY 1").fetchall()
    )
