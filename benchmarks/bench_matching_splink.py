"""Benchmark our lead-to-account matcher against Splink (DuckDB backend): same data, same blocking.

    .venv/bin/python benchmarks/bench_matching_splink.py --data simulator --persons 200000
    .venv/bin/python benchmarks/bench_matching_splink.py --data fortune --persons 20000

Splink is an optional benchmark dependency: pip install -e '.[bench]'.

Data. simulator: `simulate_profiles`; the persons to match are the known persons the CRM does not
link (link class known_unlinked), the truth their true account. fortune: the Fortune 1000 test set
(../shared/data/fortune_1000_2021/Fortune_1000.csv); the persons to match are the unlinked persons
and the decoys, whose company is not an account (right answer: no match).

Ours: `match_persons` as the product runs it (preparation, blocking, regressions fitted on the
persons the CRM links, threshold chosen on held-out linked persons), timed, scored with
`evaluate_matches`; its rows at other thresholds come from the same decisions (every person's
best account and whether it is tied do not depend on the threshold).

Splink 5, link_only between the accounts and the persons to score, fed exactly the columns our
preparation builds (m_persons / m_accounts: registrable e-mail and website domains, normalized
company name, compact name, domain labels, country; name tokens that at most
max(50, accounts / 1000) accounts use, as arrays) with blocking rules equivalent to ours: e-mail
domain, website domain or normalized name equal to the account's, a domain label equal to the
account's compact name, a rare token shared (token arrays exploded; a person's domain labels
count as tokens). Comparisons: e-mail domain and website domain exact against the account's domain;
company name exact / Jaro-Winkler >= 0.95 / >= 0.88 / a shared rare token; domain label naming the
account (compact name, or a rare token of its name); country exact. Trained in one of two ways,
each in its own run (--splink-training):
- labels: u by random sampling (--u-pairs, 1e7 by default), m from a label column (account keys)
  on the same linked persons ours fits on (Splink supports a label column in link_only: it
  compares the pairs with equal labels);
- em: u by random sampling, m by expectation maximisation blocked on the e-mail domain, then on
  the normalized name (Splink's unsupervised recipe).
Either way the prior (probability two random records match) is 1 / accounts: a person works for
one account. Each person keeps their best account by match weight; equal best weights are
ambiguous and left unmatched, as ours does. The held-out linked persons ours validates on are
scored along with the persons to match (in the same predict), for choosing a threshold.

Thresholds, each tool: "validated P>=0.99", the lowest with precision >= 0.99 on the same held-out
linked persons ours validates on, the same 20% of them with their account withheld (ours' own
threshold is that, at least 0.5); "oracle P>=0.99", the lowest with precision >= 0.99 on the
evaluated persons themselves (what the tool could do at best with that precision); and Splink at
its conventional 0.5. Recall is over the evaluated persons whose company is an account.

Each tool runs in a fresh process on the same Parquet copy of the data (DuckDB on all cores), so
the peak RSS is its own. Wall times include everything a tool does, fitting included; Splink's
include our preparation of its input columns, timed on its own line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from bench_raw import peak_rss_gib

from b2b_scoring.lib.matching.evaluation import evaluate_matches
from b2b_scoring.lib.matching.fortune_testset import build_fortune_testset
from b2b_scoring.lib.matching.matcher import (
    TIE_TOLERANCE,
    MatchConfig,
    _split_labelled,
    decision_sql,
    lowest_threshold_for_precision,
    match_persons,
    prepare_matching_inputs,
)
from b2b_scoring.lib.simulator.config import SimulationConfig
from b2b_scoring.lib.simulator.world import simulate_profiles

REPO_ROOT = Path(__file__).resolve().parents[1]
FORTUNE_CSV = REPO_ROOT.parent / "shared" / "data" / "fortune_1000_2021" / "Fortune_1000.csv"
MISSING_SPLINK = (
    "Splink is not installed: it is an optional benchmark dependency. Install it with\n"
    "    pip install -e '.[bench]'"
)
DEFAULT_PERSONS = {"simulator": 200_000, "fortune": 20_000}
SPLINK_TRAININGS = ("labels", "em")
TARGET_PRECISION = 0.99
CURVE_THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
CONFIG = MatchConfig()

PERSONS_QUERY = "SELECT * FROM persons"
ACCOUNTS_QUERY = "SELECT * FROM accounts"
TO_MATCH_QUERY = "SELECT person_key FROM to_match"
TRUTH_QUERY = "SELECT person_key, true_account_key FROM to_match"
# The held-out linked persons ours validates on (m_labelled); a withheld account is never a candidate.
VALIDATION_TRUTH_QUERY = "SELECT person_key, true_account_key FROM m_labelled WHERE validation"
# Splink's input columns, the same for accounts and persons (NULL where a side has no such value).
SPLINK_COLUMNS = (
    "unique_id, source_dataset, email_domain, website_domain, domain, normalized, compact_name, "
    "email_label, website_label, country, rare_name_tokens, blocking_tokens, label_account_key"
)
# Splink puts the input whose source_dataset sorts first on the left: accounts are l, persons r.
ACCOUNTS_SOURCE, PERSONS_SOURCE = "accounts", "persons"


@dataclass
class ToolRun:
    """What one tool did in its own process: seconds per step, pairs scored, memory and quality."""

    tool: str
    seconds: dict[str, float]
    pairs_to_match: int
    pairs_other: dict[str, int]
    loaded_rss_gib: float
    peak_rss_gib: float
    # (label, threshold, evaluate_matches result)
    results: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- data -------------------------------------------------------------------------------------


def build_data(data: str, persons: int, accounts: int | None, seed: int) -> dict[str, pa.Table]:
    """accounts and persons (contract columns), and to_match: the persons to match with their
    true account (NULL when their company is not an account)."""
    if data == "simulator":
        world = simulate_profiles(SimulationConfig(n_persons=persons, n_accounts=accounts, seed=seed))
        truth = world.truth["persons"]
        to_match = truth.filter(pc.equal(truth["link_class"], "known_unlinked"))
        return {
            "accounts": world.tables["accounts"],
            "persons": world.tables["persons"],
            "to_match": to_match.select(["person_key", "true_account_key"]),
        }
    testset = build_fortune_testset(FORTUNE_CSV, persons, seed)
    to_match = testset.truth.filter(pc.is_in(testset.truth["kind"], pa.array(["unlinked", "decoy"])))
    return {
        "accounts": testset.accounts,
        "persons": testset.persons,
        "to_match": to_match.select(["person_key", "true_account_key"]),
    }


def open_data(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the Arrow tables accounts, persons and to_match registered."""
    con = duckdb.connect()
    for name in ("accounts", "persons", "to_match"):
        con.register(name, pq.read_table(data_dir / f"{name}.parquet"))
    return con


# --- decisions and quality, the same for both tools ---------------------------------------------


def create_best_candidates(con: duckdb.DuckDBPyConnection, scored_pairs_query: str, target: str) -> None:
    """Temp table `target`: per person of `scored_pairs_query` (person_key, account_key,
    confidence, ranking: what orders the candidates), the best account, its confidence, whether
    the best is tied and how many candidates there were."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        WITH ranked AS (
            SELECT person_key, arg_max(account_key, ranking) AS best_account_key,
                   max(confidence) AS best_confidence, max(ranking, 2) AS top_two, count(*) AS candidates
            FROM ({scored_pairs_query})
            GROUP BY person_key
        )
        SELECT person_key, best_account_key, best_confidence, candidates,
               top_two[2] IS NOT NULL AND top_two[2] >= top_two[1] - {TIE_TOLERANCE} AS tied
        FROM ranked
        """
    )


def create_decisions(
    con: duckdb.DuckDBPyConnection, best_table: str, persons_query: str, threshold: float, target: str
) -> None:
    """Temp table `target` shaped like match_decisions for the persons of `persons_query`: the best
    account is matched when its confidence reaches `threshold` and it is not tied."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        SELECT p.person_key, {decision_sql("b", "$threshold")},
               b.best_account_key, b.best_confidence, coalesce(b.candidates, 0) AS candidates
        FROM ({persons_query}) AS p LEFT JOIN {best_table} AS b USING (person_key)
        """,
        {"threshold": threshold},
    )


def threshold_for_precision(con: duckdb.DuckDBPyConnection, best_table: str, truth_query: str) -> float:
    """The lowest confidence at which the untied best accounts of the persons of `truth_query`
    (person_key, true_account_key) are right TARGET_PRECISION of the time."""
    columns = con.execute(
        f"""
        SELECT b.best_confidence AS confidence,
               coalesce(b.best_account_key = t.true_account_key, false) AS right
        FROM ({truth_query}) AS t JOIN {best_table} AS b USING (person_key)
        WHERE NOT b.tied
        """
    ).fetchnumpy()
    confidence = np.asarray(columns["confidence"], dtype=float)
    right = np.asarray(columns["right"], dtype=bool)
    return lowest_threshold_for_precision(confidence, right, TARGET_PRECISION)


def evaluate_at(con: duckdb.DuckDBPyConnection, best_table: str, threshold: float) -> dict[str, Any]:
    """`evaluate_matches` of the decisions at `threshold` for the persons to match."""
    persons_to_score = "SELECT person_key FROM to_score WHERE role = 'to_match'"
    create_decisions(con, best_table, persons_to_score, threshold, "bench_decisions")
    return evaluate_matches(con, TRUTH_QUERY, "bench_decisions")


def create_persons_to_score(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table to_score (person_key, role, label_account_key): the persons to match as ours
    classes them ('to_match'), and the linked persons ours fits on ('fitting', with their account)
    and validates on ('validation'), from m_persons and m_labelled."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE to_score AS
        SELECT person_key, 'to_match' AS role, NULL::VARCHAR AS label_account_key
        FROM m_persons WHERE person_class = 'known' AND person_key IN ({TO_MATCH_QUERY})
        UNION ALL
        SELECT person_key, CASE WHEN validation THEN 'validation' ELSE 'fitting' END,
               CASE WHEN NOT validation THEN true_account_key END
        FROM m_labelled
        """
    )


def write_pairs(con: duckdb.DuckDBPyConnection, pairs_query: str, path: Path) -> None:
    con.execute(f"COPY ({pairs_query}) TO '{path}' (FORMAT parquet)")


# --- ours --------------------------------------------------------------------------------------


def create_best_from_decisions(con: duckdb.DuckDBPyConnection, decisions_table: str, target: str) -> None:
    """Temp table `target` (like `create_best_candidates`) from the decisions of `match_persons`,
    where every tie is 'ambiguous'."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        SELECT person_key, best_account_key, best_confidence, candidates, status = 'ambiguous' AS tied
        FROM {decisions_table} WHERE best_account_key IS NOT NULL
        """
    )


def run_ours(data_dir: Path) -> ToolRun:
    con = open_data(data_dir)
    loaded = peak_rss_gib()
    began = time.perf_counter()
    run = match_persons(con, PERSONS_QUERY, ACCOUNTS_QUERY, CONFIG, to_match_query=TO_MATCH_QUERY)
    seconds = time.perf_counter() - began
    peak = peak_rss_gib()
    own = evaluate_matches(con, TRUTH_QUERY, "match_decisions")
    write_pairs(con, "SELECT person_key, account_key FROM m_pairs", data_dir / "pairs_ours.parquet")
    pairs_to_match, validation_pairs = con.execute(
        "SELECT (SELECT count(*) FROM m_pairs), (SELECT sum(candidates) FROM m_validation_decisions)"
    ).fetchall()[0]
    # The fitted model's decisions on the held-out linked persons, taken at threshold 0.
    create_best_from_decisions(con, "m_validation_decisions", "ours_validation_best")
    validated = threshold_for_precision(con, "ours_validation_best", VALIDATION_TRUTH_QUERY)
    # Ties are ambiguous at any confidence, so every person's best account and tie are known
    # whatever the threshold.
    create_persons_to_score(con)
    create_best_from_decisions(con, "match_decisions", "ours_best")
    oracle = threshold_for_precision(con, "ours_best", TRUTH_QUERY)
    return ToolRun(
        tool="ours",
        seconds={"match_persons (all steps)": seconds},
        pairs_to_match=int(pairs_to_match),
        pairs_other={"fitting": run.model.training_pairs, "validation": int(validation_pairs or 0)},
        loaded_rss_gib=loaded,
        peak_rss_gib=peak,
        results=[
            ("own: validated, >= 0.5", run.model.threshold, own),
            ("validated P>=0.99", validated, evaluate_at(con, "ours_best", validated)),
            ("oracle P>=0.99", oracle, evaluate_at(con, "ours_best", oracle)),
        ],
        notes=[f"fitted on {run.model.training_persons:,} linked persons"],
    )


# --- Splink ------------------------------------------------------------------------------------


def create_splink_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Splink's input tables, all with SPLINK_COLUMNS, from our prepared m_accounts / m_persons:
    splink_accounts, splink_fitting_persons (labelled with their account) and
    splink_scored_persons (the persons to match and the validation persons, unlabelled)."""
    accounts = con.execute("SELECT count(*) FROM m_accounts").fetchall()[0][0]
    max_accounts_per_token = CONFIG.blocking_token_limit(accounts)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE splink_rare_tokens AS
        SELECT token FROM m_token_weights WHERE accounts <= $max_accounts_per_token
        """,
        {"max_accounts_per_token": max_accounts_per_token},
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE splink_name_rare_tokens AS
        SELECT t.name, list_sort(list(t.token)) AS tokens
        FROM m_names_tokens AS t JOIN splink_rare_tokens USING (token)
        GROUP BY t.name
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE splink_accounts AS
        SELECT a.account_key AS unique_id, '{ACCOUNTS_SOURCE}' AS source_dataset,
               NULL::VARCHAR AS email_domain, NULL::VARCHAR AS website_domain, a.domain, a.normalized,
               a.compact_name, NULL::VARCHAR AS email_label, NULL::VARCHAR AS website_label, a.country,
               n.tokens AS rare_name_tokens, n.tokens AS blocking_tokens, a.account_key AS label_account_key
        FROM m_accounts AS a LEFT JOIN splink_name_rare_tokens AS n ON n.name = a.name
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE splink_persons AS
        WITH persons AS (
            SELECT p.*, s.role, s.label_account_key FROM m_persons AS p JOIN to_score AS s USING (person_key)
        ),
        rare_labels AS (
            SELECT person_key, list_sort(list(DISTINCT label)) AS tokens
            FROM (SELECT person_key, email_label AS label FROM persons
                  UNION ALL SELECT person_key, website_label FROM persons) AS labels
            JOIN splink_rare_tokens AS r ON r.token = labels.label
            GROUP BY person_key
        )
        SELECT p.role, p.person_key AS unique_id, '{PERSONS_SOURCE}' AS source_dataset, p.email_domain,
               p.website_domain, NULL::VARCHAR AS domain, p.normalized, NULL::VARCHAR AS compact_name,
               p.email_label, p.website_label, p.country, n.tokens AS rare_name_tokens,
               nullif(list_sort(list_distinct(
                   list_concat(coalesce(n.tokens, []), coalesce(l.tokens, []))
               )), []) AS blocking_tokens,
               p.label_account_key
        FROM persons AS p
        LEFT JOIN splink_name_rare_tokens AS n ON n.name = p.name
        LEFT JOIN rare_labels AS l USING (person_key)
        """
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE splink_fitting_persons AS SELECT {SPLINK_COLUMNS} "
        "FROM splink_persons WHERE role = 'fitting'"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE splink_scored_persons AS SELECT {SPLINK_COLUMNS} "
        "FROM splink_persons WHERE role <> 'fitting'"
    )


def splink_settings(accounts: int) -> Any:
    """link_only settings: our blocking as Splink rules (l: accounts, r: persons), the comparisons,
    and the prior that a person works for one account."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator
    from splink.blocking_rule_library import CustomRule

    def cross_column_null(condition: str) -> Any:
        return cll.CustomLevel(condition, "NULL").configure(is_null_level=True)

    def domain_comparison(person_column: str) -> Any:
        return cl.CustomComparison(
            output_column_name=person_column,
            comparison_levels=[
                cross_column_null(f"domain_l IS NULL OR {person_column}_r IS NULL"),
                cll.CustomLevel(f"domain_l = {person_column}_r", f"{person_column} = account domain"),
                cll.ElseLevel(),
            ],
        )

    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        source_dataset_column_name="source_dataset",
        probability_two_random_records_match=1.0 / accounts,
        blocking_rules_to_generate_predictions=[
            CustomRule("l.domain = r.email_domain"),
            CustomRule("l.domain = r.website_domain"),
            CustomRule("l.normalized = r.normalized"),
            CustomRule("l.compact_name = r.email_label"),
            CustomRule("l.compact_name = r.website_label"),
            CustomRule("l.blocking_tokens = r.blocking_tokens", arrays_to_explode=["blocking_tokens"]),
        ],
        comparisons=[
            domain_comparison("email_domain"),
            domain_comparison("website_domain"),
            cl.CustomComparison(
                output_column_name="company_name",
                comparison_levels=[
                    cll.NullLevel("normalized"),
                    cll.ExactMatchLevel("normalized"),
                    cll.JaroWinklerLevel("normalized", 0.95),
                    cll.JaroWinklerLevel("normalized", 0.88),
                    cll.CustomLevel(
                        "len(list_intersect(rare_name_tokens_l, rare_name_tokens_r)) > 0",
                        "a rare name token shared",
                    ),
                    cll.ElseLevel(),
                ],
            ),
            cl.CustomComparison(
                output_column_name="domain_label",
                comparison_levels=[
                    cross_column_null("email_label_r IS NULL AND website_label_r IS NULL"),
                    cll.CustomLevel(
                        "compact_name_l IN (email_label_r, website_label_r)", "domain label = compact name"
                    ),
                    cll.CustomLevel(
                        "list_has_any(rare_name_tokens_l, [email_label_r, website_label_r])",
                        "domain label = a rare name token",
                    ),
                    cll.ElseLevel(),
                ],
            ),
            cl.ExactMatch("country"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def run_splink(data_dir: Path, training: str, u_pairs: float, seed: int) -> ToolRun:
    from splink import DuckDBAPI, Linker
    from splink.blocking_rule_library import CustomRule

    con = open_data(data_dir)
    loaded = peak_rss_gib()
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    prepare_matching_inputs(con, PERSONS_QUERY, ACCOUNTS_QUERY)
    seconds["our preparation (prepare_matching_inputs)"] = time.perf_counter() - began
    began = time.perf_counter()
    _split_labelled(con, CONFIG)
    create_persons_to_score(con)
    create_splink_inputs(con)
    accounts = con.execute("SELECT count(*) FROM splink_accounts").fetchall()[0][0]
    seconds["Splink input tables"] = time.perf_counter() - began

    began = time.perf_counter()
    db_api = DuckDBAPI(con)
    settings = splink_settings(accounts)
    if training == "labels":
        fitting_linker = Linker(
            [db_api.register("splink_accounts"), db_api.register("splink_fitting_persons")],
            settings,
            log_level=logging.WARNING,
        )
        fitting_linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
        fitting_linker.training.estimate_m_from_label_column("label_account_key")
        settings = fitting_linker.misc.save_model_to_json()
    linker = Linker(
        [db_api.register("splink_accounts"), db_api.register("splink_scored_persons")],
        settings,
        log_level=logging.WARNING,
    )
    if training == "em":
        linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
        for blocking_rule in ("l.domain = r.email_domain", "l.normalized = r.normalized"):
            linker.training.estimate_parameters_using_expectation_maximisation(CustomRule(blocking_rule))
    seconds[f"training (u sampled, m from {training})"] = time.perf_counter() - began

    began = time.perf_counter()
    predictions = linker.inference.predict().physical_name
    seconds["predict"] = time.perf_counter() - began

    began = time.perf_counter()
    wrong_side = con.execute(
        f"SELECT count(*) FROM {predictions} WHERE source_dataset_l <> '{ACCOUNTS_SOURCE}'"
    ).fetchall()[0][0]
    if wrong_side:
        raise RuntimeError(f"{wrong_side} Splink pairs have a person on the left; the rules assume accounts")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE splink_pairs AS
        SELECT unique_id_r AS person_key, unique_id_l AS account_key, match_probability AS confidence,
               match_weight AS ranking
        FROM {predictions}
        """
    )
    create_best_candidates(
        con,
        "SELECT * FROM splink_pairs WHERE person_key IN "
        "(SELECT person_key FROM to_score WHERE role = 'to_match')",
        "splink_best",
    )
    # Validation as ours validates: held-out linked persons, some with their account withheld.
    create_best_candidates(
        con,
        """
        SELECT s.* FROM splink_pairs AS s JOIN m_labelled AS l USING (person_key)
        WHERE l.validation AND NOT (l.account_withheld AND s.account_key = l.true_account_key)
        """,
        "splink_validation_best",
    )
    validated = threshold_for_precision(con, "splink_validation_best", VALIDATION_TRUTH_QUERY)
    seconds["best account per person, thresholds"] = time.perf_counter() - began
    oracle = threshold_for_precision(con, "splink_best", TRUTH_QUERY)

    write_pairs(
        con,
        "SELECT person_key, account_key FROM splink_pairs WHERE person_key IN "
        "(SELECT person_key FROM to_score WHERE role = 'to_match')",
        data_dir / f"pairs_splink_{training}.parquet",
    )
    pairs = dict(
        con.execute(
            "SELECT s.role, count(*) FROM splink_pairs JOIN to_score AS s USING (person_key) GROUP BY ALL"
        ).fetchall()
    )
    return ToolRun(
        tool=f"splink-{training}",
        seconds=seconds,
        pairs_to_match=int(pairs.get("to_match", 0)),
        pairs_other={"validation": int(pairs.get("validation", 0)), "u sampling (at most)": int(u_pairs)},
        loaded_rss_gib=loaded,
        peak_rss_gib=peak_rss_gib(),
        results=[
            ("0.5", 0.5, evaluate_at(con, "splink_best", 0.5)),
            ("validated P>=0.99", validated, evaluate_at(con, "splink_best", validated)),
            ("oracle P>=0.99", oracle, evaluate_at(con, "splink_best", oracle)),
        ],
        notes=[f"match weights per level: {_splink_parameters(linker)}"],
    )


def _splink_parameters(linker: Any) -> str:
    """The trained match weight, log2(m / u), of each comparison level but the null levels."""
    described = []
    for comparison in linker.misc.save_model_to_json()["comparisons"]:
        weights = [
            f"{math.log2(level['m_probability'] / level['u_probability']):+.1f}"
            if isinstance(level.get("m_probability"), float) and isinstance(level.get("u_probability"), float)
            else "untrained (Splink's default m)"
            for level in comparison["comparison_levels"]
            if not level.get("is_null_level")
        ]
        described.append(f"{comparison['output_column_name']} [{' '.join(weights)}]")
    return "; ".join(described)


def run_tool(tool: str, data_dir: str, u_pairs: float, seed: int) -> ToolRun:
    """Entry point of a tool's own process."""
    if tool == "ours":
        return run_ours(Path(data_dir))
    return run_splink(Path(data_dir), tool.removeprefix("splink-"), u_pairs, seed)


def run_in_fresh_process(tool: str, data_dir: Path, u_pairs: float, seed: int) -> ToolRun:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_tool, tool, str(data_dir), u_pairs, seed).result()


# --- report ------------------------------------------------------------------------------------


def print_report(runs: list[ToolRun], blocking: dict[str, tuple[int, int, int]], to_match: int) -> None:
    evaluated = runs[0].results[0][2]
    print(
        f"evaluated: {evaluated['persons']:,} of the {to_match:,} persons to match, those our preparation "
        f"classes known ({evaluated['matchable']:,} of them with an account); the other "
        f"{to_match - evaluated['persons']:,} have nothing to match on (classed anonymous)\n"
    )
    header = (
        f"{'tool':<14} {'threshold':<28} {'pairs':>9} {'wall s':>7} {'peak GiB':>8} "
        f"{'matched':>8} {'precision':>9} {'recall':>7} {'F1':>7}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        total_seconds = sum(run.seconds.values())
        for index, (label, threshold, quality) in enumerate(run.results):
            costs = (
                f"{run.pairs_to_match:>9,} {total_seconds:>7.1f} {run.peak_rss_gib:>8.2f}"
                if index == 0
                else " " * 26
            )
            shown = f"{label} {threshold:.3g}" if quality["matched"] else f"{label} unreachable"
            print(
                f"{run.tool if index == 0 else '':<14} {shown:<28} {costs} "
                f"{quality['matched']:>8,} {quality['precision']:>9.4f} {quality['recall']:>7.4f} "
                f"{quality['f1']:>7.4f}"
            )
    print(
        "\npairs: candidate pairs scored for the persons to match; wall s: everything the tool does "
        "(fitting included); peak GiB: the process's max RSS (data loaded: "
        + ", ".join(f"{run.tool} {run.loaded_rss_gib:.2f}" for run in runs)
        + ")"
    )
    print("\nprecision / recall at confidence thresholds (best untied account per person):")
    print(f"{'tool':<14} " + " ".join(f"{f'>= {t}':>15}" for t in CURVE_THRESHOLDS))
    for run in runs:
        curve = {round(point["threshold"], 2): point for point in run.results[-1][2]["curve"]}
        print(
            f"{run.tool:<14} "
            + " ".join(f"{curve[t]['precision']:>7.4f}/{curve[t]['recall']:<7.4f}" for t in CURVE_THRESHOLDS)
        )
    print("\nsteps:")
    for run in runs:
        others = ", ".join(f"{name} {count:,}" for name, count in run.pairs_other.items())
        print(f"  {run.tool}: other pairs: {others}")
        for step, seconds in run.seconds.items():
            print(f"    {step:<45} {seconds:7.1f} s")
        for note in run.notes:
            print(f"    {note}")
    print("\nblocking, pairs of the persons to match (same pairs = same blocking):")
    for tool, (both, only_ours, only_other) in blocking.items():
        print(f"  ours vs {tool}: {both:,} in both, {only_ours:,} only ours, {only_other:,} only {tool}")


def compare_blocking(data_dir: Path, tools: list[str]) -> dict[str, tuple[int, int, int]]:
    compared = {}
    with duckdb.connect() as con:
        for tool in tools:
            both, only_ours, only_other = con.execute(
                f"""
                SELECT count(*) FILTER (WHERE o.person_key IS NOT NULL AND s.person_key IS NOT NULL),
                       count(*) FILTER (WHERE s.person_key IS NULL),
                       count(*) FILTER (WHERE o.person_key IS NULL)
                FROM '{data_dir / "pairs_ours.parquet"}' AS o
                FULL JOIN '{data_dir / f"pairs_{tool.replace('-', '_')}.parquet"}' AS s
                    USING (person_key, account_key)
                """
            ).fetchall()[0]
            compared[tool] = (both, only_ours, only_other)
    return compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data", choices=("simulator", "fortune"), required=True)
    parser.add_argument(
        "--persons", type=int, help="persons in the data (default: simulator 200,000, fortune 20,000)"
    )
    parser.add_argument("--accounts", type=int, help="simulator only (default: persons / 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--splink-training", nargs="+", choices=SPLINK_TRAININGS, default=list(SPLINK_TRAININGS)
    )
    parser.add_argument(
        "--u-pairs", type=float, default=1e7, help="Splink's max_pairs for u by random sampling"
    )
    args = parser.parse_args(argv)
    if args.accounts is not None and args.data != "simulator":
        parser.error("--accounts applies to --data simulator only (the Fortune list has 1,000 accounts)")
    try:
        importlib.import_module("splink")
    except ImportError:
        print(MISSING_SPLINK, file=sys.stderr)
        return 2
    if args.data == "fortune" and not FORTUNE_CSV.is_file():
        print(f"Fortune 1000 CSV not found: {FORTUNE_CSV}", file=sys.stderr)
        return 2
    persons = args.persons or DEFAULT_PERSONS[args.data]

    began = time.perf_counter()
    tables = build_data(args.data, persons, args.accounts, args.seed)
    print(
        f"{args.data}: {tables['persons'].num_rows:,} persons, {tables['accounts'].num_rows:,} accounts, "
        f"{tables['to_match'].num_rows:,} persons to match "
        f"({pc.sum(pc.is_null(tables['to_match']['true_account_key'])).as_py() or 0:,} whose company is not "
        f"an account), seed {args.seed}; built in {time.perf_counter() - began:.1f} s; "
        f"{os.cpu_count()} CPUs, DuckDB {duckdb.__version__}, Splink "
        f"{importlib.import_module('splink').__version__}\n"
    )
    tools = ["ours", *(f"splink-{training}" for training in args.splink_training)]
    to_match = tables["to_match"].num_rows
    with tempfile.TemporaryDirectory(prefix="bench_matching_splink_") as tmp:
        data_dir = Path(tmp)
        for name, table in tables.items():
            pq.write_table(table, data_dir / f"{name}.parquet")
        del tables
        runs = [run_in_fresh_process(tool, data_dir, args.u_pairs, args.seed) for tool in tools]
        blocking = compare_blocking(data_dir, tools[1:])
    print_report(runs, blocking, to_match)
    return 0


if __name__ == "__main__":
    sys.exit(main())
