"""Lead-to-account matching: which account does a known person without one work for?

1. Persons are classed: account person (linked in the CRM), known (work e-mail, company name or
   company website) or anonymous.
2. Candidates come from blocking, never all pairs: the registrable domain of the work e-mail and
   of the company website against the accounts' website domains, and company-name tokens that few
   accounts share (or the whole normalized name).
3. Each candidate pair gets evidence: domain agreements, IDF-weighted company-name similarity
   (frequent words like "bank" or "group" weigh little), Jaro-Winkler for typos, the margin over
   the person's other candidates, country.
4. A logistic regression, fitted on the persons the CRM already links (labelled examples,
   blocked as if unlinked), turns the evidence into a confidence; the threshold is the lowest
   that keeps precision at the target on held-out linked persons.
5. Each person gets only their best account, only above the threshold; equal best confidences
   (at any level) are reported as ambiguous, never guessed.

Everything runs in DuckDB temp tables of the given connection; nothing is written elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb
import numpy as np
from sklearn.linear_model import LogisticRegression

from b2b_scoring.lib.dbt_args import DBT_PROJECT_DIR
from b2b_scoring.lib.matching.domains import create_registrable_domains, email_host_sql, host_sql
from b2b_scoring.lib.matching.names import TOKENS_TABLE_SUFFIX, create_name_tokens

if TYPE_CHECKING:
    from b2b_scoring.lib.settings import Settings

PERSONAL_EMAIL_DOMAINS_CSV = DBT_PROJECT_DIR / "seeds" / "personal_email_domains.csv"
PERSON_CLASSES = ("account_person", "known", "anonymous")
STATUSES = ("matched", "ambiguous", "below_threshold", "no_candidate")
EVIDENCE_FEATURES = (
    "email_domain_match",
    "website_domain_match",
    "name_similarity",
    "name_person_coverage",
    "name_account_coverage",
    "name_exact",
    "name_jaro_winkler",
    "name_margin",
    "has_company_name",
    "domain_names_account",
    "domain_in_account_name",
    "country_match",
    "country_mismatch",
)
# A company name agrees when its weighted token overlap with the account's reaches this.
NAME_AGREES = 0.5
# Best confidences closer than this are a tie.
TIE_TOLERANCE = 1e-9
MIN_LABELLED_PERSONS = 30
MIN_DEFAULT_THRESHOLD = 0.5
# Logit margins over the runner-up are capped here (a lone candidate has this margin).
MARGIN_CAP = 10.0
RELATIONSHIP_SOURCE = "lead_to_account_matching"


class MatchingError(ValueError):
    """The matcher cannot be fitted or run on the given data (says why)."""


@dataclass(frozen=True)
class MatchConfig:
    """threshold None: the lowest confidence (at least 0.5) with precision >= min_precision on
    validation."""

    threshold: float | None = None
    min_precision: float = 0.99
    max_training_persons: int = 200_000
    validation_share: float = 0.3
    # Share of linked persons whose account is withheld from the candidates in fitting and
    # validation: persons of companies that are not (yet) accounts, whose right answer is no match.
    withheld_account_share: float = 0.2
    # Name tokens shared by more accounts than this do not block (they still count in the
    # similarity); None: max(50, accounts / 1000).
    max_accounts_per_blocking_token: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, threshold: float | None = None) -> MatchConfig:
        """The environment's matching settings; a threshold given here wins over them."""
        return cls(
            threshold=settings.match_threshold if threshold is None else threshold,
            min_precision=settings.match_min_precision,
        )

    def blocking_token_limit(self, accounts: int) -> int:
        return self.max_accounts_per_blocking_token or max(50, accounts // 1000)


@dataclass(frozen=True)
class MatcherModel:
    """Two logistic regressions: the evidence of a pair gives its logit; the logit and its margin
    over the person's best other candidate give the confidence (a strong runner-up lowers it)."""

    intercept: float
    coefficients: dict[str, float]
    competition: dict[str, float]
    threshold: float
    threshold_source: str
    training_persons: int
    training_pairs: int
    validation: dict[str, float]
    precision_recall_curve: list[dict[str, float]] = field(default_factory=list)

    def logit_sql(self) -> str:
        return logit_sql(self.intercept, self.coefficients)

    def confidence_sql(self) -> str:
        return confidence_sql(self.competition)


def logit_sql(intercept: float, coefficients: dict[str, float]) -> str:
    """SQL for the evidence logit of a pair, over the EVIDENCE_FEATURES columns."""
    terms = " + ".join(f"{value!r} * {name}" for name, value in coefficients.items())
    return f"({intercept!r} + {terms})"


def confidence_sql(competition: dict[str, float]) -> str:
    """SQL for the confidence, over the columns logit and margin of `_score_pairs`."""
    c = competition
    return f"1.0 / (1.0 + exp(-({c['intercept']!r} + {c['logit']!r} * logit + {c['margin']!r} * margin)))"


@dataclass(frozen=True)
class MatchRun:
    """Result of `match_persons`: the model, and the temp table `match_decisions` holding one row
    per person to match (person_key, true_account_key, status, account_key, best_account_key,
    best_confidence, evidence, name_similarity, candidates)."""

    model: MatcherModel
    persons_by_class: dict[str, int]
    decisions: dict[str, int]


def match_persons(
    con: duckdb.DuckDBPyConnection,
    persons_query: str,
    accounts_query: str,
    config: MatchConfig = MatchConfig(),
    to_match_query: str | None = None,
) -> MatchRun:
    """Match the known persons without an account of `persons_query` (contract columns of
    persons) to `accounts_query` (contract columns of accounts), or only those whose person_key
    `to_match_query` (one column person_key) returns."""
    prepare_matching_inputs(con, persons_query, accounts_query)
    persons_by_class = dict(
        con.execute("SELECT person_class, count(*) FROM m_persons GROUP BY ALL").fetchall()
    )
    persons_by_class = {name: int(persons_by_class.get(name, 0)) for name in PERSON_CLASSES}
    fitting_persons = _split_labelled(con, config)
    accounts = con.execute("SELECT count(*) FROM m_accounts").fetchone()[0]
    token_limit = config.blocking_token_limit(accounts)
    model = _fit(con, config, fitting_persons, token_limit)
    restriction = f"AND person_key IN (SELECT person_key FROM ({to_match_query}))" if to_match_query else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_targets AS
        SELECT person_key, NULL::VARCHAR AS true_account_key, false AS account_withheld FROM m_persons
        WHERE person_class = 'known' {restriction}
        """
    )
    _decide(
        con,
        "m_targets",
        model.logit_sql(),
        model.confidence_sql(),
        model.threshold,
        "match_decisions",
        token_limit,
    )
    decisions = dict(con.execute("SELECT status, count(*) FROM match_decisions GROUP BY ALL").fetchall())
    return MatchRun(
        model=model,
        persons_by_class=persons_by_class,
        decisions={status: int(decisions.get(status, 0)) for status in STATUSES},
    )


def prepare_matching_inputs(con: duckdb.DuckDBPyConnection, persons_query: str, accounts_query: str) -> None:
    """Temp tables m_persons (person_key, crm_account_key, email_domain: registrable, NULL for
    personal mail; website_domain, name, normalized, country, email_label, website_label,
    person_class) and m_accounts (account_key, domain, name, normalized, compact_name, country),
    plus the name tokens m_names_tokens (name, token) and their account frequency and IDF weight
    m_token_weights (token, accounts, weight)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE m_personal_email_domains AS
        SELECT lower(trim(domain)) AS domain FROM read_csv(?, header = true, all_varchar = true)
        """,
        [str(PERSONAL_EMAIL_DOMAINS_CSV)],
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_raw_accounts AS
        SELECT account_key, {host_sql("website")} AS host, nullif(trim(account_name), '') AS name,
               nullif(lower(trim(country)), '') AS country
        FROM ({accounts_query}) WHERE account_key IS NOT NULL
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_raw_persons AS
        SELECT person_key, nullif(trim(account_key), '') AS crm_account_key,
               {email_host_sql("email")} AS email_host, {host_sql("company_website")} AS website_host,
               nullif(trim(company_name), '') AS name, nullif(lower(trim(country)), '') AS country
        FROM ({persons_query}) WHERE person_key IS NOT NULL
        """
    )
    create_registrable_domains(
        con,
        "SELECT host FROM m_raw_accounts UNION SELECT email_host FROM m_raw_persons "
        "UNION SELECT website_host FROM m_raw_persons",
        "m_domains",
    )
    create_name_tokens(con, "SELECT name FROM m_raw_accounts UNION SELECT name FROM m_raw_persons", "m_names")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE m_accounts AS
        SELECT a.account_key, d.domain, a.name, n.normalized, replace(n.normalized, ' ', '') AS compact_name,
               a.country
        FROM m_raw_accounts AS a
        LEFT JOIN m_domains AS d ON d.host = a.host
        LEFT JOIN m_names AS n ON n.name = a.name
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_persons AS
        WITH domains AS (
            SELECT p.*, w.domain AS website_domain,
                   CASE WHEN NOT (e.domain IN (SELECT domain FROM m_personal_email_domains)
                                  OR p.email_host IN (SELECT domain FROM m_personal_email_domains))
                        THEN e.domain END AS work_email_domain
            FROM m_raw_persons AS p
            LEFT JOIN m_domains AS e ON e.host = p.email_host
            LEFT JOIN m_domains AS w ON w.host = p.website_host
        )
        SELECT person_key, crm_account_key, work_email_domain AS email_domain,
               website_domain, d.name, n.normalized, country,
               {domain_label("work_email_domain")} AS email_label,
               {domain_label("website_domain")} AS website_label,
               CASE
                   WHEN crm_account_key IS NOT NULL THEN 'account_person'
                   WHEN work_email_domain IS NOT NULL OR website_domain IS NOT NULL
                        OR n.normalized IS NOT NULL THEN 'known'
                   ELSE 'anonymous'
               END AS person_class
        FROM domains AS d
        LEFT JOIN m_names AS n ON n.name = d.name
        """
    )
    accounts = con.execute("SELECT count(*) FROM m_accounts").fetchone()[0]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_token_weights AS
        SELECT t.token, count(DISTINCT a.account_key) AS accounts,
               ln(({accounts} + 1.0) / (count(DISTINCT a.account_key) + 1.0)) + 1.0 AS weight
        FROM m_accounts AS a JOIN m_names{TOKENS_TABLE_SUFFIX} AS t ON t.name = a.name
        GROUP BY t.token
        """
    )
    # A word no account uses weighs as much as a word only one account uses, and a little more.
    unseen_weight = f"(ln({accounts} + 1.0) + 1.0)"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_name_weights AS
        SELECT t.name, list(t.token) AS tokens,
               list({{'token': t.token, 'weight': coalesce(w.weight, {unseen_weight})}}) AS weighted_tokens,
               sum(coalesce(w.weight, {unseen_weight})) AS total
        FROM m_names{TOKENS_TABLE_SUFFIX} AS t LEFT JOIN m_token_weights AS w USING (token)
        GROUP BY t.name
        """
    )


def domain_label(domain_expression: str) -> str:
    """SQL for the name part of a registrable domain without trailing digits ("acme2.co.uk" -> "acme")."""
    return f"nullif(regexp_replace(split_part({domain_expression}, '.', 1), '[0-9]+$', ''), '')"


def _split_labelled(con: duckdb.DuckDBPyConnection, config: MatchConfig) -> int:
    """Linked persons with something to match on, as if unlinked: a deterministic sample split by
    a hash of the key into fitting and validation persons; returns the fitting persons."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_labelled AS
        SELECT person_key, crm_account_key AS true_account_key,
               hash(person_key || '#validation') % 1000 < {round(config.validation_share * 1000)}
                   AS validation,
               hash(person_key || '#withheld') % 1000 < {round(config.withheld_account_share * 1000)}
                   AS account_withheld
        FROM m_persons
        WHERE person_class = 'account_person'
          AND (email_domain IS NOT NULL OR website_domain IS NOT NULL OR normalized IS NOT NULL)
        ORDER BY hash(person_key)
        LIMIT {int(config.max_training_persons)}
        """
    )
    counts = dict(con.execute("SELECT validation, count(*) FROM m_labelled GROUP BY ALL").fetchall())
    if counts.get(False, 0) < MIN_LABELLED_PERSONS or counts.get(True, 0) < MIN_LABELLED_PERSONS:
        raise MatchingError(
            f"Lead-to-account matching learns from persons already linked to an account (account_key "
            f"set) that have an e-mail, company name or website: {sum(counts.values())} found, at least "
            f"{round(MIN_LABELLED_PERSONS / min(config.validation_share, 1 - config.validation_share))} "
            f"are needed to fit and validate it."
        )
    return counts[False]


def _candidate_features(
    con: duckdb.DuckDBPyConnection, persons_table: str, target: str, max_accounts_per_token: int
) -> None:
    """Create temp table `target`: the blocked candidate pairs of the persons in `persons_table`
    (person_key, true_account_key) with their evidence."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_block_persons AS
        SELECT p.*, s.true_account_key, s.account_withheld
        FROM m_persons AS p JOIN {persons_table} AS s USING (person_key)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_domain_names_account AS
        WITH labels AS (
            SELECT person_key, email_label AS label FROM m_block_persons WHERE email_label IS NOT NULL
            UNION
            SELECT person_key, website_label FROM m_block_persons WHERE website_label IS NOT NULL
        )
        SELECT person_key, account_key, bool_or(whole_name) AS whole_name
        FROM (
            SELECT l.person_key, a.account_key, true AS whole_name
            FROM labels AS l JOIN m_accounts AS a ON a.compact_name = l.label
            UNION ALL
            SELECT l.person_key, a.account_key, false AS whole_name
            FROM labels AS l
            JOIN m_token_weights AS w ON w.token = l.label AND w.accounts <= $max_accounts_per_token
            JOIN m_names{TOKENS_TABLE_SUFFIX} AS t ON t.token = w.token
            JOIN m_accounts AS a ON a.name = t.name
        )
        GROUP BY ALL
        """,
        {"max_accounts_per_token": max_accounts_per_token},
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE m_candidates AS
        WITH blocked AS (
        SELECT person_key, account_key FROM m_domain_names_account
        UNION
        SELECT p.person_key, a.account_key
        FROM m_block_persons AS p JOIN m_accounts AS a ON a.domain = p.email_domain
        UNION
        SELECT p.person_key, a.account_key
        FROM m_block_persons AS p JOIN m_accounts AS a ON a.domain = p.website_domain
        UNION
        SELECT p.person_key, a.account_key
        FROM m_block_persons AS p JOIN m_accounts AS a ON a.normalized = p.normalized
        UNION
        SELECT p.person_key, a.account_key
        FROM m_block_persons AS p
        JOIN m_names{TOKENS_TABLE_SUFFIX} AS pt ON pt.name = p.name
        JOIN m_token_weights AS w ON w.token = pt.token AND w.accounts <= $max_accounts_per_token
        JOIN m_names{TOKENS_TABLE_SUFFIX} AS accts ON accts.token = pt.token
        JOIN m_accounts AS a ON a.name = accts.name
        )
        SELECT blocked.*
        FROM blocked JOIN m_block_persons AS p USING (person_key)
        WHERE NOT (p.account_withheld AND blocked.account_key = p.true_account_key)
        """,
        {"max_accounts_per_token": max_accounts_per_token},
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        WITH joined AS (
            SELECT c.person_key, c.account_key, p.true_account_key, p.normalized AS person_name,
                   a.normalized AS account_name, pw.total AS person_weight, aw.total AS account_weight,
                   coalesce(list_sum(list_transform(
                       list_filter(pw.weighted_tokens, lambda t: list_contains(aw.tokens, t.token)),
                       lambda t: t.weight)), 0.0) AS shared,
                   coalesce(p.email_domain = a.domain, false) AS email_match,
                   coalesce(p.website_domain = a.domain, false) AS website_match,
                   l.whole_name,
                   coalesce(p.country = a.country, false)::DOUBLE AS country_match,
                   coalesce(p.country <> a.country, false)::DOUBLE AS country_mismatch
            FROM m_candidates AS c
            JOIN m_block_persons AS p USING (person_key)
            JOIN m_accounts AS a USING (account_key)
            LEFT JOIN m_domain_names_account AS l USING (person_key, account_key)
            LEFT JOIN m_name_weights AS pw ON pw.name = p.name
            LEFT JOIN m_name_weights AS aw ON aw.name = a.name
        ),
        pairs AS (
            SELECT person_key, account_key, true_account_key,
                   email_match::DOUBLE AS email_domain_match,
                   website_match::DOUBLE AS website_domain_match,
                   coalesce(shared / (person_weight + account_weight - shared), 0.0) AS name_similarity,
                   coalesce(shared / person_weight, 0.0) AS name_person_coverage,
                   coalesce(shared / account_weight, 0.0) AS name_account_coverage,
                   coalesce(person_name = account_name, false)::DOUBLE AS name_exact,
                   coalesce(jaro_winkler_similarity(person_name, account_name), 0.0) AS name_jaro_winkler,
                   (person_name IS NOT NULL)::DOUBLE AS has_company_name,
                   coalesce(whole_name AND NOT email_match AND NOT website_match, false)::DOUBLE
                       AS domain_names_account,
                   coalesce(NOT whole_name AND NOT email_match AND NOT website_match, false)::DOUBLE
                       AS domain_in_account_name,
                   country_match, country_mismatch
            FROM joined
        ),
        top_two AS (
            SELECT person_key, max(name_similarity, 2) AS similarities FROM pairs GROUP BY person_key
        )
        SELECT pairs.*,
               name_similarity - CASE
                   WHEN name_similarity = similarities[1] THEN coalesce(similarities[2], 0.0)
                   ELSE similarities[1]
               END AS name_margin
        FROM pairs JOIN top_two USING (person_key)
        """
    )


def _fit(
    con: duckdb.DuckDBPyConnection, config: MatchConfig, fitting_persons: int, token_limit: int
) -> MatcherModel:
    con.execute("CREATE OR REPLACE TEMP TABLE m_fit_persons AS SELECT * FROM m_labelled WHERE NOT validation")
    _candidate_features(con, "m_fit_persons", "m_fit_pairs", token_limit)
    columns = con.execute(
        f"SELECT {', '.join(EVIDENCE_FEATURES)}, (account_key = true_account_key)::INT AS label "
        "FROM m_fit_pairs ORDER BY person_key, account_key"
    ).fetchnumpy()
    labels = np.asarray(columns["label"])
    if labels.min(initial=1) == 1 or labels.max(initial=0) == 0:
        raise MatchingError(
            "Lead-to-account matching needs candidate accounts that are right and wrong among the "
            f"linked persons to learn from; their {len(labels)} candidate pairs are all "
            f"{'right' if len(labels) and labels[0] else 'wrong'}."
        )
    evidence = np.column_stack([np.asarray(columns[name], dtype=float) for name in EVIDENCE_FEATURES])
    regression = LogisticRegression(C=1.0, max_iter=2000).fit(evidence, labels)
    intercept = float(regression.intercept_[0])
    coefficients = dict(zip(EVIDENCE_FEATURES, map(float, regression.coef_[0]), strict=True))
    _score_pairs(con, "m_fit_pairs", logit_sql(intercept, coefficients), "m_fit_scored")
    scored = con.execute(
        """
        SELECT s.logit, s.margin, (s.account_key = p.true_account_key)::INT AS label
        FROM m_fit_scored AS s JOIN m_fit_pairs AS p USING (person_key, account_key)
        ORDER BY person_key, account_key
        """
    ).fetchnumpy()
    competition = LogisticRegression(C=1.0, max_iter=2000).fit(
        np.column_stack([np.asarray(scored["logit"]), np.asarray(scored["margin"])]),
        np.asarray(scored["label"]),
    )
    competition_weights = {
        "intercept": float(competition.intercept_[0]),
        "logit": float(competition.coef_[0][0]),
        "margin": float(competition.coef_[0][1]),
    }
    con.execute(
        "CREATE OR REPLACE TEMP TABLE m_validation_persons AS SELECT * FROM m_labelled WHERE validation"
    )
    # Threshold 0: every best candidate is decided, so the threshold can be chosen from them.
    _decide(
        con,
        "m_validation_persons",
        logit_sql(intercept, coefficients),
        confidence_sql(competition_weights),
        0.0,
        "m_validation_decisions",
        token_limit,
    )
    validation = con.execute(
        """
        SELECT d.best_confidence, d.best_account_key = d.true_account_key AS correct,
               d.status = 'ambiguous' AS ambiguous, l.account_withheld
        FROM m_validation_decisions AS d JOIN m_labelled AS l USING (person_key)
        """
    ).fetchnumpy()
    confidence = np.nan_to_num(np.asarray(validation["best_confidence"], dtype=float), nan=-1.0)
    decided = ~np.asarray(validation["ambiguous"], dtype=bool) & (confidence >= 0)
    correct = np.asarray(validation["correct"], dtype=bool)
    matchable = int((~np.asarray(validation["account_withheld"], dtype=bool)).sum())
    curve = precision_recall_curve(confidence[decided], correct[decided], matchable)
    if config.threshold is not None:
        threshold, source = config.threshold, "configured"
    else:
        # Never accept a best account the model rates more likely wrong than right, however
        # many easy matches lift the cumulative precision.
        threshold = max(
            MIN_DEFAULT_THRESHOLD,
            lowest_threshold_for_precision(confidence[decided], correct[decided], config.min_precision),
        )
        source = (
            f"lowest confidence with validation precision >= {config.min_precision}, "
            f"at least {MIN_DEFAULT_THRESHOLD}"
        )
    at_threshold = precision_recall_at(confidence[decided], correct[decided], matchable, threshold)
    return MatcherModel(
        intercept=intercept,
        coefficients=coefficients,
        competition=competition_weights,
        threshold=threshold,
        threshold_source=source,
        training_persons=fitting_persons,
        training_pairs=len(labels),
        validation={
            "persons": float(len(confidence)),
            "withheld_accounts": float(len(confidence) - matchable),
            **at_threshold,
        },
        precision_recall_curve=curve,
    )


def _decide(
    con: duckdb.DuckDBPyConnection,
    persons_table: str,
    logit: str,
    confidence: str,
    threshold: float,
    target: str,
    token_limit: int,
) -> None:
    """Create temp table `target`: per person of `persons_table`, the best candidate, its
    confidence (SQL `confidence` over the pair `logit`) and evidence, and the status against
    `threshold`."""
    _candidate_features(con, persons_table, "m_pairs", token_limit)
    _score_pairs(con, "m_pairs", logit, "m_scored")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        WITH scored AS (
            SELECT person_key, account_key, {confidence} AS confidence FROM m_scored
        ),
        best AS (
            SELECT person_key,
                   arg_max(account_key, confidence) AS best_account_key,
                   max(confidence, 2) AS top_two,
                   count(*) AS candidates
            FROM scored
            GROUP BY person_key
        ),
        decided AS (
            SELECT b.*, b.top_two[1] AS best_confidence,
                   b.top_two[2] IS NOT NULL AND b.top_two[2] >= b.top_two[1] - {TIE_TOLERANCE} AS tied,
                   list_filter([
                       CASE WHEN e.email_domain_match = 1 THEN 'email_domain' END,
                       CASE WHEN e.website_domain_match = 1 THEN 'website_domain' END,
                       CASE WHEN e.domain_names_account = 1 THEN 'domain_names_account' END,
                       CASE WHEN e.domain_in_account_name = 1 THEN 'domain_in_account_name' END,
                       CASE WHEN e.name_similarity >= {NAME_AGREES} THEN 'company_name' END,
                       CASE WHEN e.country_match = 1 THEN 'country' END
                   ], lambda code: code IS NOT NULL) AS evidence,
                   e.name_similarity
            FROM best AS b
            JOIN m_pairs AS e ON e.person_key = b.person_key AND e.account_key = b.best_account_key
        )
        SELECT p.person_key, p.true_account_key,
               {decision_sql("b", repr(threshold))},
               b.best_account_key, b.best_confidence,
               coalesce(b.evidence, []::VARCHAR[]) AS evidence, b.name_similarity,
               coalesce(b.candidates, 0) AS candidates
        FROM {persons_table} AS p
        LEFT JOIN decided AS b USING (person_key)
        """
    )


def decision_sql(best: str, threshold: str) -> str:
    """SQL for the columns status and account_key of a person, from the alias `best` of their best
    candidate (person_key NULL when they have none, best_account_key, best_confidence, tied)
    against the SQL `threshold`."""
    return f"""
        CASE
            WHEN {best}.person_key IS NULL THEN 'no_candidate'
            WHEN {best}.tied THEN 'ambiguous'
            WHEN {best}.best_confidence < {threshold} THEN 'below_threshold'
            ELSE 'matched'
        END AS status,
        CASE WHEN {best}.best_confidence >= {threshold} AND NOT {best}.tied
             THEN {best}.best_account_key END AS account_key"""


def _score_pairs(con: duckdb.DuckDBPyConnection, pairs_table: str, logit: str, target: str) -> None:
    """Create temp table `target`(person_key, account_key, logit, margin): each pair's evidence
    logit and its margin over the person's best other candidate (capped; a lone candidate gets the
    cap)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        WITH logits AS (
            SELECT person_key, account_key, {logit} AS logit FROM {pairs_table}
        ),
        top_two AS (
            SELECT person_key, max(logit, 2) AS logits FROM logits GROUP BY person_key
        )
        SELECT person_key, account_key, logit,
               least({MARGIN_CAP}, logit - CASE
                   WHEN logit = logits[1] THEN coalesce(logits[2], logit - {MARGIN_CAP})
                   ELSE logits[1]
               END) AS margin
        FROM logits JOIN top_two USING (person_key)
        """
    )


def precision_recall_f1(right: int, matched: int, persons: int) -> dict[str, float]:
    """Precision of `matched` decisions of which `right` are right (1 when none), recall over
    `persons`, and F1."""
    precision = right / matched if matched else 1.0
    recall = right / persons if persons else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def precision_recall_at(
    confidence: np.ndarray, correct: np.ndarray, persons: int, threshold: float
) -> dict[str, float]:
    """Precision, recall (over all `persons`) and F1 of accepting the best candidates with
    confidence >= threshold."""
    accepted = confidence >= threshold
    matched = int(accepted.sum())
    return {
        "threshold": threshold,
        "matched": float(matched),
        **precision_recall_f1(int((accepted & correct).sum()), matched, persons),
    }


def precision_recall_curve(
    confidence: np.ndarray, correct: np.ndarray, persons: int
) -> list[dict[str, float]]:
    """Precision and recall at thresholds 0.05, 0.10, ..., 0.95."""
    return [
        precision_recall_at(confidence, correct, persons, round(float(threshold), 2))
        for threshold in np.arange(0.05, 0.951, 0.05)
    ]


def lowest_threshold_for_precision(
    confidence: np.ndarray, correct: np.ndarray, min_precision: float
) -> float:
    """The lowest confidence t such that the best candidates with confidence >= t are right at
    least min_precision of the time; above every confidence (nothing matched) when none is."""
    if len(confidence) == 0:
        return 1.0
    order = np.argsort(-confidence, kind="stable")
    ranked, right = confidence[order], correct[order]
    precision = np.cumsum(right) / np.arange(1, len(ranked) + 1)
    # Only cut between distinct confidences: a threshold takes every row at its value.
    last_of_level = np.r_[ranked[1:] != ranked[:-1], True]
    acceptable = np.flatnonzero(last_of_level & (precision >= min_precision))
    if len(acceptable) == 0:
        return math.nextafter(float(ranked[0]), math.inf)
    return float(ranked[acceptable[-1]])
