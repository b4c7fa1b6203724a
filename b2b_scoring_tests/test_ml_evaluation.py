"""Metrics, folds, calibration, points baseline and the flat-file backtest, on synthetic data."""

import datetime
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from b2b_scoring.cli import main
from b2b_scoring.lib.goals import PointsRule
from b2b_scoring.lib.ml import training
from b2b_scoring.lib.ml.backtest import stratified_folds, walk_forward_folds
from b2b_scoring.lib.ml.flat_file import FlatFileError, backtest_flat_file
from b2b_scoring.lib.ml.metrics import (
    bootstrap_intervals,
    brier,
    calibration_error,
    gains_table,
    pr_auc,
    top_share,
)
from b2b_scoring.lib.ml.models import Calibrator, FeatureEncoder, LightGBMModel, PointsModel
from b2b_scoring.lib.ml.training import fit_model, held_out_keys


def test_ranking_metrics_on_known_cases() -> None:
    label = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    perfect = np.array([0.9, 0.1, 0.8, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert pr_auc(perfect, label) == 1.0
    # Positives ranked 1st and 3rd: precision 1/1 and 2/3.
    assert pr_auc(np.array([0.9, 0.8, 0.7, 0, 0, 0, 0, 0, 0, 0]), label) == pytest.approx((1 + 2 / 3) / 2)
    # A constant score is worth the base rate.
    assert pr_auc(np.zeros(10), label) == pytest.approx(0.2, abs=0.1)
    lift, recall = top_share(perfect, label, 0.2)
    assert (lift, recall) == (5.0, 1.0)
    assert (
        brier(np.array([1.0, 0.0]), np.array([1, 0])) == 0.0 and brier(np.array([0.5]), np.array([1])) == 0.25
    )
    gains = gains_table(perfect, label, bins=5)
    assert gains[0].lift == 5.0 and gains[0].cumulative_recall == 1.0 and gains[-1].conversion_rate == 0.0


def test_calibration_error_sees_miscalibration_and_intervals_cover_the_truth() -> None:
    rng = np.random.default_rng(5)
    probability = rng.uniform(0, 0.5, 100_000)
    label = (rng.random(100_000) < probability).astype(int)
    assert calibration_error(probability, label) < 0.01
    assert calibration_error(np.minimum(probability * 2, 1), label) > 0.1
    intervals = bootstrap_intervals(probability, label, resamples=100)
    low, high = intervals["brier"]
    assert low < brier(probability, label) < high and high - low < 0.01


def test_walk_forward_folds_leave_a_gap_of_one_window() -> None:
    rng = np.random.default_rng(5)
    mondays = np.array([datetime.date(2025, 1, 6) + datetime.timedelta(weeks=w) for w in range(40)])
    dates = np.repeat(mondays, 50).astype("datetime64[D]")
    label = (rng.random(len(dates)) < 0.1).astype(int)
    folds = walk_forward_folds(dates, label, window_days=90)
    assert len(folds) == 3
    for fold in folds:
        latest_train = dates[fold.train].max()
        first_test = dates[fold.test].min()
        assert first_test == np.datetime64(fold.cutoff)
        assert latest_train + np.timedelta64(90, "D") <= first_test
        assert len(np.unique(dates[fold.test])) == 4
    assert folds[-1].test[-1] and folds[0].cutoff < folds[1].cutoff < folds[2].cutoff
    with pytest.raises(ValueError, match="too few for a walk-forward backtest"):
        walk_forward_folds(dates[:300], label[:300], window_days=90)


def test_stratified_folds_partition_rows_with_equal_positive_shares() -> None:
    rng = np.random.default_rng(5)
    label = (rng.random(1000) < 0.3).astype(int)
    folds = stratified_folds(label, 5)
    assert np.array_equal(sum(f.test.astype(int) for f in folds), np.ones(1000))
    shares = [label[f.test].mean() for f in folds]
    assert max(shares) - min(shares) < 0.01


def test_models_are_cross_fitted_on_halves_of_whole_keys_unless_the_fit_is_large(monkeypatch) -> None:
    rng = np.random.default_rng(11)
    keys = np.repeat(np.arange(2_001), 4)
    signal = rng.normal(0, 1, 2_001)
    label = (rng.random(len(keys)) < 1 / (1 + np.exp(-(2 * signal[keys] - 3)))).astype(int)
    second = held_out_keys(keys, label, 0.5, seed=0)
    per_key = np.bincount(keys, weights=second) / 4
    assert set(np.unique(per_key)) == {0.0, 1.0}  # a key's rows are all on one side
    converting = np.bincount(keys, weights=label) > 0
    for members in (converting, ~converting):
        assert abs(int(per_key[members].sum()) - members.sum() / 2) <= 0.5
    assert np.array_equal(second, held_out_keys(keys, label, 0.5, seed=0))

    table = pa.table({"signal": signal[keys] + rng.normal(0, 0.1, len(keys)), "label": label})
    encoder = FeatureEncoder.fit(table, ["signal"])
    matrix = encoder.matrix(table)
    trained = fit_model("lightgbm", matrix, label, keys, encoder)
    first, other = trained.model.members
    np.testing.assert_allclose(
        trained.model.raw_score(matrix), (first.raw_score(matrix) + other.raw_score(matrix)) / 2
    )
    # The calibrator learned from each half's scores by the model fitted on the other half.
    out_of_fold = np.where(second, first.raw_score(matrix), other.raw_score(matrix))
    np.testing.assert_allclose(
        trained.calibrator.probability(out_of_fold[:50]),
        Calibrator.fit(out_of_fold, label).probability(out_of_fold[:50]),
    )

    monkeypatch.setattr(training, "LARGE_FIT_POSITIVES", int(label.sum()))
    large = fit_model("lightgbm", matrix, label, keys, encoder)
    assert isinstance(large.model, LightGBMModel)
    assert large.model.booster.params["learning_rate"] == 0.1
    assert {m.booster.params["learning_rate"] for m in trained.model.members} == {0.05}
    held_out = held_out_keys(keys, label, 0.2, seed=0)
    assert abs(held_out.mean() - 0.2) < 0.01
    np.testing.assert_allclose(
        large.calibrator.probability(out_of_fold[:50]),
        Calibrator.fit(large.model.raw_score(matrix[held_out]), label[held_out]).probability(
            out_of_fold[:50]
        ),
    )


def test_calibrator_is_sigmoid_on_small_sets_and_isotonic_on_large_ones() -> None:
    rng = np.random.default_rng(5)
    raw = rng.normal(0, 1, 50_000)
    label = (rng.random(50_000) < 1 / (1 + np.exp(-(2 * raw - 3)))).astype(int)
    small, large = Calibrator.fit(raw[:2000], label[:2000]), Calibrator.fit(raw, label)
    assert (small.method, large.method) == ("sigmoid", "isotonic")
    for calibrator in (small, large):
        assert calibration_error(calibrator.probability(raw), label) < 0.01
    # Isotonic steps rest on bins of rows with a pseudo-row at the overall rate: never 0 or 1, even
    # where the extreme rows all share one label.
    extreme = np.r_[raw, np.full(30, 10.0), np.full(30, -10.0)]
    outcome = np.r_[label, np.ones(30, int), np.zeros(30, int)]
    probability = Calibrator.fit(extreme, outcome).probability(extreme)
    assert 0 < probability.min() and probability.max() < 1


def test_points_baseline_adds_the_points_of_the_rules_met() -> None:
    table = pa.table({"job_seniority": ["VP", "Intern", None], "pricing_visits_30d": [2, 0, 1]})
    encoder = FeatureEncoder.fit(table, ["job_seniority", "pricing_visits_30d"])
    rules = [
        PointsRule("job_seniority", 10, one_of=("VP", "C-Level")),
        PointsRule("pricing_visits_30d", 15, at_least=1),
        PointsRule("not_a_feature", 5, at_least=1),
    ]
    model = PointsModel.from_rules(encoder, rules)
    assert model.raw_score(encoder.matrix(table)).tolist() == [25, 0, 15]
    assert model.skipped == ("not_a_feature >= 1: +5",)


def write_leads(path: Path, rows: int = 3000) -> Path:
    """A flat export: an id, informative and noise columns, a post-contact column that is the
    outcome where filled, missing markers and a yes/no outcome."""
    rng = np.random.default_rng(1)
    visits = rng.poisson(3, rows)
    source = rng.choice(["Google", "Referral", "Direct"], rows)
    logit = -1.5 + 0.5 * visits + np.where(source == "Referral", 1.0, 0.0)
    converted = rng.random(rows) < 1 / (1 + np.exp(-logit))
    filled = rng.random(rows) < 0.6
    tag = np.where(filled, np.where(converted, "Closed won", "Ringing"), "Select")
    lines = ["Lead ID;Total Visits;Lead Source;Noise;Sales Tag;Converted"]
    lines += [
        f"L{i};{visits[i]};{source[i]};{rng.random():.3f};{tag[i]};{'Yes' if converted[i] else 'No'}"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_flat_file_backtest_names_the_leak_and_drops_it_when_marked(tmp_path: Path) -> None:
    csv = write_leads(tmp_path / "leads.csv")
    with_leak = backtest_flat_file(csv, "Converted", missing_values=["Select"])
    assert with_leak["excluded_identifiers"] == ["Lead ID"] and with_leak["n"] == 3000
    suspects = {s["column"]: s for s in with_leak["leakage_suspects"]}
    assert set(suspects) == {"Sales Tag"} and suspects["Sales Tag"]["blocking"]
    assert with_leak["auc"] > 0.95
    marked = backtest_flat_file(csv, "Converted", post_contact=["Sales Tag"], missing_values=["Select"])
    assert marked["leakage_suspects"] == [] and marked["excluded_post_contact"] == ["Sales Tag"]
    assert 0.7 < marked["auc"] < with_leak["auc"] and marked["calibration_error"] < 0.05
    assert set(marked["baselines"]) == {"logistic_regression"}
    low, high = marked["auc_95ci"]
    assert low < marked["auc"] < high


def test_backtest_command_prints_json_and_names_bad_outcomes(tmp_path: Path, capsys) -> None:
    csv = write_leads(tmp_path / "leads.csv", rows=800)
    assert (
        main(["backtest", "--flat-file", str(csv), "--outcome", "Converted", "--sep", ";", "--folds", "3"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert {
        "auc",
        "pr_auc",
        "lift_at_10",
        "brier",
        "n",
        "positive_rate",
        "leakage_suspects",
        "baselines",
    } <= set(result)
    with pytest.raises(SystemExit):
        main(["backtest", "--flat-file", str(csv), "--outcome", "Lead Source"])
    assert "column 'Lead Source', data row 1" in capsys.readouterr().err
    with pytest.raises(FlatFileError, match="no outcome column 'Outcome'"):
        backtest_flat_file(csv, "Outcome")


@pytest.mark.parametrize("algorithm", ["random_forest", "logistic_regression"])
def test_every_algorithm_trains_on_missing_values_and_categories(tmp_path: Path, algorithm: str) -> None:
    csv = write_leads(tmp_path / "leads.csv", rows=1500)
    result = backtest_flat_file(
        csv, "Converted", post_contact=["Sales Tag"], missing_values=["Select"], algorithm=algorithm, folds=3
    )
    assert result["algorithm"] == algorithm and result["auc"] > 0.7
    expected_baselines = set() if algorithm == "logistic_regression" else {"logistic_regression"}
    assert set(result["baselines"]) == expected_baselines
