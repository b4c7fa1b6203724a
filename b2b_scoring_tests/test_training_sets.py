"""Training sets and gates of the goals, checked against the simulator's ground truth."""

import datetime
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pytest

from b2b_scoring.lib.goals import default_goals_path, load_goals, parse_goals
from b2b_scoring.lib.ml.backtest import BACKTEST_DATES
from b2b_scoring.lib.ml.training_sets import (
    DataSpan,
    LabelSummary,
    Sampling,
    conversions_gate,
    data_span,
    history_gate,
    label_summary,
    sampling_for,
    training_set,
)
from b2b_scoring_tests.conftest import YearWorld

GOALS = load_goals(default_goals_path())
LEAD, ACCOUNT = GOALS.get("lead_conversion"), GOALS.get("opportunity_contract")


@pytest.fixture(scope="module")
def warehouse(year_world: YearWorld) -> Iterator[duckdb.DuckDBPyConnection]:
    """The 400-day world's warehouse, read-only."""
    with duckdb.connect(str(year_world.settings.warehouse_path), read_only=True) as con:
        yield con


def truth_days(con: duckdb.DuckDBPyConnection, column: str) -> str:
    """SQL date of a truth day-index column (days since the simulation's first day)."""
    return f"((select start_date from truth.meta) + cast(floor({column}) as integer))"


def test_lead_labels_are_the_true_conversions_in_the_window(warehouse: duckdb.DuckDBPyConnection) -> None:
    span = data_span(warehouse, LEAD)
    labelled = training_set(warehouse, LEAD, span)
    assert labelled.num_rows > 20_000 and 0 < pa.compute.sum(labelled["label"]).as_py() < labelled.num_rows
    # Only windows that were observed in full; persons converted before the as-of date are out.
    assert (
        max(span.labelled_as_of_dates) + datetime.timedelta(days=LEAD.prediction_window_days - 1)
        <= span.last_event_date
    )
    assert not any(labelled["has_converted"].to_pylist())
    warehouse.register("labelled", labelled.select(["person_key", "as_of_date", "label"]))
    converted = truth_days(warehouse, "t.converted_day")
    disagreements = warehouse.execute(
        f"select count(*) from labelled join truth.persons t using (person_key) where label <> "
        f"coalesce({converted} >= as_of_date and {converted} < as_of_date + 90, false)::int"
    ).fetchall()[0][0]
    assert disagreements == 0


def test_account_labels_are_the_true_contract_stages_in_the_window(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    labelled = training_set(warehouse, ACCOUNT, data_span(warehouse, ACCOUNT))
    warehouse.register("account_labels", labelled.select(["account_key", "as_of_date", "label"]))
    contract = truth_days(warehouse, "e.stage_3_day")
    truth_positive = warehouse.execute(
        f"select count(*) filter (where label = 1), count(*) filter (where label = 1 and truly), "
        f"count(*) filter (where truly) from (select l.account_key, l.as_of_date, l.label, "
        f"coalesce(bool_or(e.has_opportunity and e.advances_1 and e.advances_2 and e.advances_3 "
        f"and {contract} >= l.as_of_date and {contract} < l.as_of_date + 90), false) as truly "
        f"from account_labels l left join truth.episodes e using (account_key) group by all)"
    ).fetchall()[0]
    labelled_positive, agreeing, true_positive = truth_positive
    assert labelled_positive > 20 and agreeing == labelled_positive == true_positive


def test_history_gate_blocks_below_six_months_plus_window_and_warns_below_two_years() -> None:
    def span(days: int) -> DataSpan:
        last = datetime.date(2025, 6, 30)
        return DataSpan(last - datetime.timedelta(days=days - 1), last, ())

    short = history_gate(LEAD, span(200))
    assert (short.passed, short.blocking) == (False, True)
    assert "200 days of history; goal lead_conversion needs at least 270" in short.message
    assert short.numbers["required_days"] == 270
    one_year = history_gate(LEAD, span(365))
    assert (one_year.passed, one_year.blocking) == (
        False,
        False,
    ) and "below the recommended 2 years" in one_year.message
    assert history_gate(LEAD, span(730)).passed


def test_conversions_gate_needs_ten_converting_keys() -> None:
    result = conversions_gate(
        LEAD, LabelSummary(40, positive_rows=18, keys=20, converting_keys=9, evaluation_rows=8)
    )
    assert not result.passed and result.blocking and result.numbers["converting_keys"] == 9
    assert "9 persons converted" in result.message and "at least 10 needed" in result.message
    assert conversions_gate(LEAD, LabelSummary(10, 10, keys=10, converting_keys=10, evaluation_rows=2)).passed


def test_label_summary_counts_what_the_training_set_holds(warehouse: duckdb.DuckDBPyConnection) -> None:
    span = data_span(warehouse, LEAD)
    labelled = training_set(warehouse, LEAD, span)
    summary = label_summary(warehouse, LEAD, span)
    positives = labelled.filter(pa.compute.equal(labelled["label"], 1))
    tested = pa.compute.greater_equal(labelled["as_of_date"], pa.scalar(span.first_backtest_date))
    assert summary == LabelSummary(
        labelled.num_rows,
        positives.num_rows,
        len(pa.compute.unique(labelled["person_key"])),
        len(pa.compute.unique(positives["person_key"])),
        pa.compute.sum(tested).as_py(),
    )
    assert span.first_backtest_date == span.labelled_as_of_dates[-BACKTEST_DATES]
    # Without sampling every row trains with weight 1 and is evaluated.
    assert set(labelled["sample_weight"].to_pylist()) == {1.0} and all(labelled["in_evaluation"].to_pylist())
    # A share of the keys keeps all snapshots of the chosen keys and about that share of rows.
    half = training_set(warehouse, LEAD, span, Sampling.of_keys(0.5))
    chosen = set(half["person_key"].to_pylist())
    assert 0.4 < len(chosen) / summary.keys < 0.6
    kept = labelled.filter(pa.compute.is_in(labelled["person_key"], value_set=pa.array(sorted(chosen))))
    assert kept.num_rows == half.num_rows


def test_sampling_above_the_budget_keeps_positives_and_weighs_negatives_back(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    span = data_span(warehouse, LEAD)
    summary = label_summary(warehouse, LEAD, span)
    assert sampling_for(summary, span, summary.rows) == Sampling()
    budget = summary.rows // 5
    sampling = sampling_for(summary, span, budget)
    assert sampling.positive_share == 1.0 and sampling.evaluation_from == span.first_backtest_date
    assert sampling.negative_share == pytest.approx(
        (budget - summary.positive_rows) / (summary.rows - summary.positive_rows)
    )
    assert sampling.evaluation_key_share == pytest.approx(budget / 4 / summary.evaluation_rows)
    sampled = training_set(warehouse, LEAD, span, sampling)
    label = sampled["label"].to_numpy()
    weight = sampled["sample_weight"].to_numpy()
    training = weight > 0
    # Every positive trains with weight 1; the weighted negatives add up to about all of them.
    assert label[training].sum() == summary.positive_rows and set(weight[training & (label == 1)]) == {1.0}
    negatives = summary.rows - summary.positive_rows
    assert weight[training & (label == 0)].sum() == pytest.approx(negatives, rel=0.03)
    assert training.sum() == pytest.approx(budget, rel=0.03)
    # Evaluation rows: all snapshots of a share of the keys on the backtest's test dates, so their
    # positive rate is the population's there.
    evaluation = sampled.filter(sampled["in_evaluation"])
    assert pa.compute.min(evaluation["as_of_date"]).as_py() == span.first_backtest_date
    full = training_set(warehouse, LEAD, span)
    keys = pa.compute.unique(evaluation["person_key"])
    tested = full.filter(
        pa.compute.and_(
            pa.compute.is_in(full["person_key"], value_set=keys),
            pa.compute.greater_equal(full["as_of_date"], pa.scalar(span.first_backtest_date)),
        )
    )
    assert evaluation.num_rows == tested.num_rows
    assert evaluation.num_rows == pytest.approx(budget / 4, rel=0.1)
    # Stable: the same sampling reads the same rows.
    assert training_set(warehouse, LEAD, span, sampling).equals(sampled)


def test_converted_status_filter_selects_the_conversions(warehouse: duckdb.DuckDBPyConnection) -> None:
    only_unknown_status = parse_goals(
        {"goals": [{"name": "g", "entity": "person", "prediction_window_days": 90,
                    "conversion": {"event": "leadOperation.convertLead", "converted_status": ["Nope"]}}]}
    ).get("g")  # fmt: skip
    labelled = training_set(warehouse, only_unknown_status, data_span(warehouse, only_unknown_status))
    assert labelled.num_rows > 0 and pa.compute.sum(labelled["label"]).as_py() == 0
    assert not conversions_gate(
        only_unknown_status,
        label_summary(warehouse, only_unknown_status, data_span(warehouse, only_unknown_status)),
    ).passed
