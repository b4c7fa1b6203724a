"""Match quality against known truth (the simulator's true accounts, a built test set)."""

from __future__ import annotations

import duckdb
import numpy as np

from b2b_scoring.lib.matching.matcher import precision_recall_curve, precision_recall_f1


def evaluate_matches(
    con: duckdb.DuckDBPyConnection, truth_query: str, decisions_table: str = "match_decisions"
) -> dict[str, object]:
    """Precision, recall and F1 of the decisions in `decisions_table` (from `match_persons`)
    against `truth_query` (person_key, true_account_key: NULL when the person's company is not an
    account), and the precision-recall curve of the best candidates over thresholds.

    Recall is over the persons of the truth that got a decision (the known ones) whose company is
    an account; `without_decision` counts the truth's persons the matcher classed anonymous (no
    work e-mail, company name or website), and `recall_all` counts them as misses."""
    columns = con.execute(
        f"""
        SELECT d.account_key IS NOT NULL AS matched,
               coalesce(d.account_key = t.true_account_key, false) AS matched_right,
               coalesce(d.best_account_key = t.true_account_key, false) AS best_right,
               coalesce(d.best_confidence, -1.0) AS best_confidence,
               d.status = 'ambiguous' AS ambiguous,
               t.true_account_key IS NOT NULL AS matchable
        FROM {decisions_table} AS d JOIN ({truth_query}) AS t USING (person_key)
        """
    ).fetchnumpy()
    without_decision = con.execute(
        f"""
        SELECT count(*) FROM ({truth_query}) AS t
        WHERE t.true_account_key IS NOT NULL
          AND t.person_key NOT IN (SELECT person_key FROM {decisions_table})
        """
    ).fetchone()[0]
    matched = np.asarray(columns["matched"], dtype=bool)
    matched_right = np.asarray(columns["matched_right"], dtype=bool)
    matchable = int(np.asarray(columns["matchable"], dtype=bool).sum())
    decided = ~np.asarray(columns["ambiguous"], dtype=bool) & (np.asarray(columns["best_confidence"]) >= 0)
    confidence = np.asarray(columns["best_confidence"], dtype=float)[decided]
    best_right = np.asarray(columns["best_right"], dtype=bool)[decided]
    return {
        "persons": int(len(matched)),
        "matchable": matchable,
        "matched": int(matched.sum()),
        **precision_recall_f1(int(matched_right.sum()), int(matched.sum()), matchable),
        "without_decision": int(without_decision),
        "recall_all": float(matched_right.sum() / (matchable + without_decision)) if matchable else 0.0,
        "curve": precision_recall_curve(confidence, best_right, matchable),
    }
