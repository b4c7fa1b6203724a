"""The leakage check: declared post-contact columns and single features that predict the label alone."""

import numpy as np
import pytest

from b2b_scoring.lib.ml.leakage import leakage_suspects, single_feature_auc
from b2b_scoring.lib.ml.metrics import roc_auc

RNG = np.random.default_rng(3)
N = 4000
LABEL = RNG.random(N) < 0.2


def test_roc_auc_counts_ties_as_one_half() -> None:
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert roc_auc(np.array([1, 1, 1, 1]), np.array([0, 1, 0, 1])) == 0.5
    assert roc_auc(np.array([3, 2, 1]), np.array([1, 0, 0])) == 1.0
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(np.array([1.0, 2.0]), np.array([1, 1]))


def test_a_leaky_column_is_named_and_honest_columns_are_not() -> None:
    columns = {
        # Filled in by sales after the outcome: nearly the label itself.
        "lead_quality_score": np.where(LABEL, 0.9, 0.1) + RNG.normal(0, 0.05, N),
        # Informative, as a good feature is, but far from perfect.
        "pricing_visits_30d": RNG.poisson(np.where(LABEL, 2.0, 1.0)).astype(float),
        # An identifier: one category per row must not look predictive.
        "person_key": np.array([f"P-{i}" for i in range(N)]),
        # A field that is empty until sales touch the lead: its missingness is the label.
        "sales_tag": np.where(LABEL, "Will revert", None).astype(object),
        "country": RNG.choice(["US", "DE", "IN"], N),
    }
    suspects = {s.column: s for s in leakage_suspects(columns, LABEL, known_after_contact=["last_activity"])}
    assert set(suspects) == {"lead_quality_score", "sales_tag"}
    assert suspects["lead_quality_score"].auc > 0.99 and "ROC-AUC" in suspects["lead_quality_score"].reason
    assert 0.55 < single_feature_auc(columns["pricing_visits_30d"], LABEL) < 0.8
    assert single_feature_auc(columns["person_key"], LABEL) < 0.6


def test_declared_post_contact_columns_are_named_when_present() -> None:
    columns = {"tags": RNG.choice(["a", "b"], N), "tenure_days": RNG.integers(1, 900, N)}
    suspects = leakage_suspects(columns, LABEL, known_after_contact=["tags", "lead_quality"])
    assert [(s.column, s.reason) for s in suspects] == [
        ("tags", "declared as known only after sales contact")
    ]


def test_reverse_predictors_and_missing_numbers_count() -> None:
    inverse = np.where(LABEL, 0.0, 1.0)
    assert single_feature_auc(inverse, LABEL) == 1.0
    missing_when_converted = np.where(LABEL, np.nan, RNG.random(N))
    assert single_feature_auc(missing_when_converted, LABEL) == 1.0
