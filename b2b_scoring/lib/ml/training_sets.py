"""Training sets of a goal: weekly feature snapshots with the label "converted within the
prediction window after the as-of date", and the data-quality gates a goal must pass to train.

A snapshot row at as-of date d uses only data before d; its label looks at [d, d + window).
Only snapshots whose whole window has been observed are labelled. Goal values reach DuckDB as
query parameters, never as SQL text.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from b2b_scoring.lib.contract import CONVERT_LEAD
from b2b_scoring.lib.goals import Goal
from b2b_scoring.lib.ml.backtest import BACKTEST_DATES

FEATURE_HISTORY = {"person": "features.person_feature_history", "account": "features.account_feature_history"}
KEY_COLUMN = {"person": "person_key", "account": "account_key"}
MIN_HISTORY_MONTHS = 6
RECOMMENDED_HISTORY_DAYS = 730
MIN_CONVERSIONS = 10


@dataclass(frozen=True)
class DataSpan:
    """What the warehouse holds for a goal: first and last day of experience events and the
    as-of dates of the weekly feature history whose prediction window is complete."""

    first_event_date: datetime.date | None
    last_event_date: datetime.date | None
    labelled_as_of_dates: tuple[datetime.date, ...]

    @property
    def first_backtest_date(self) -> datetime.date | None:
        """The first of the dates the walk-forward backtest tests on."""
        dates = self.labelled_as_of_dates
        return dates[-min(BACKTEST_DATES, len(dates))] if dates else None

    @property
    def history_days(self) -> int:
        if self.first_event_date is None or self.last_event_date is None:
            return 0
        return (self.last_event_date - self.first_event_date).days + 1


def conversions_sql(goal: Goal) -> tuple[str, dict[str, object]]:
    """(key, converted_at) of every conversion of the goal, with its query parameters; for a goal
    that takes sales dispositions as labels, its positive dispositions count as conversions too."""
    conversion = goal.conversion
    if conversion.flat_export is not None:
        raise ValueError(f"goal {goal.name}: flat-export outcomes have no dates; train them with `backtest`")
    parameters: dict[str, object]
    if conversion.attribute_name is not None:
        key = KEY_COLUMN[goal.entity]
        sql = (
            f"select {key} as key, event_at as converted_at from staging.stg_opportunity_events "
            f"where attribute_name = $attribute_name and new_value = $new_value and {key} is not null"
        )
        parameters = {"attribute_name": conversion.attribute_name, "new_value": conversion.new_value}
    else:
        sql = (
            "select person_key as key, event_at as converted_at from staging.stg_experience_events "
            "where event_type = $event "
            "and (len($statuses::varchar[]) = 0 or list_contains($statuses::varchar[], converted_status))"
        )
        parameters = {"event": conversion.event, "statuses": list(conversion.converted_status)}
    if goal.feedback.dispositions == "labels":
        sql += (
            " union all select person_key as key, disposition_at as converted_at "
            "from staging.stg_sales_dispositions where list_contains($positive::varchar[], disposition)"
        )
        parameters["positive"] = list(goal.feedback.positive_dispositions)
    return sql, parameters


def data_span(con: duckdb.DuckDBPyConnection, goal: Goal) -> DataSpan:
    first, last = con.execute(
        "select min(event_date), max(event_date) from staging.stg_experience_events"
    ).fetchall()[0]
    if last is None:
        return DataSpan(None, None, ())
    # The window [d, d + window) is observed when its last day is on or before the last event day.
    horizon = last - datetime.timedelta(days=goal.prediction_window_days - 1)
    dates = con.execute(
        f"select distinct as_of_date from {FEATURE_HISTORY[goal.entity]} where as_of_date <= ? order by 1",
        [horizon],
    ).fetchall()
    return DataSpan(first, last, tuple(row[0] for row in dates))


def excludes_converted(goal: Goal) -> bool:
    """Whether persons already converted are out of the goal's population (training, scoring,
    roll-ups): for the lead conversion goal."""
    return goal.conversion.event == CONVERT_LEAD


def _labelled_sql(goal: Goal, span: DataSpan) -> tuple[str, dict[str, object]]:
    conversions, parameters = conversions_sql(goal)
    key = KEY_COLUMN[goal.entity]
    already_converted = "and not features.has_converted" if excludes_converted(goal) else ""
    sql = f"""
        with conversions as ({conversions}),
        labels as (
            select features.{key}, features.as_of_date
            from {FEATURE_HISTORY[goal.entity]} as features
            join conversions
                on conversions.key = features.{key}
                and conversions.converted_at >= features.as_of_date
                and conversions.converted_at < features.as_of_date + to_days($window)
            where list_contains($dates, features.as_of_date)
            group by all
        )
        select features.*, (labels.{key} is not null)::integer as label
        from {FEATURE_HISTORY[goal.entity]} as features
        left join labels using ({key}, as_of_date)
        where list_contains($dates, features.as_of_date) {already_converted}
    """
    return sql, {
        **parameters,
        "window": goal.prediction_window_days,
        "dates": list(span.labelled_as_of_dates),
    }


@dataclass(frozen=True)
class Sampling:
    """Which labelled snapshots are read, and how each weighs in training.

    Training rows: the snapshots of a stable `key_share` of the keys, of which a stable
    `positive_share` of the positive and `negative_share` of the negative snapshots, each
    weighted back by 1 / its share (probabilities and base rates stay those of all snapshots).
    Evaluation rows (the backtest's test rows): every snapshot from `evaluation_from` on of a
    stable `evaluation_key_share` of the keys, unweighted, so every backtest metric is unbiased.
    """

    key_share: float = 1.0
    positive_share: float = 1.0
    negative_share: float = 1.0
    evaluation_key_share: float = 1.0
    evaluation_from: datetime.date | None = None

    @classmethod
    def of_keys(cls, share: float) -> Sampling:
        """All snapshots of a stable share of the keys, for training and evaluation alike."""
        return cls(key_share=share, evaluation_key_share=share)

    def __post_init__(self) -> None:
        for name in ("key_share", "positive_share", "negative_share", "evaluation_key_share"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")


def sampling_for(summary: LabelSummary, span: DataSpan, max_rows: int) -> Sampling:
    """Every snapshot while they fit in `max_rows`. Above it, what carries the most information per
    row: every positive snapshot (a share of them when they exceed half of `max_rows`), the rest of
    the budget in negative snapshots, and a quarter of it again in evaluation rows on the backtest's
    test dates."""
    if summary.rows <= max_rows:
        return Sampling()
    negatives = summary.rows - summary.positive_rows
    positive_share = min(1.0, max_rows / 2 / max(summary.positive_rows, 1))
    negative_share = min(1.0, (max_rows - positive_share * summary.positive_rows) / max(negatives, 1))
    return Sampling(
        positive_share=positive_share,
        negative_share=negative_share,
        evaluation_key_share=min(1.0, max_rows / 4 / max(summary.evaluation_rows, 1)),
        evaluation_from=span.first_backtest_date,
    )


def training_set(
    con: duckdb.DuckDBPyConnection, goal: Goal, span: DataSpan, sampling: Sampling = Sampling()
) -> pa.Table:
    """The goal's labelled snapshots: every feature column plus `label` (1 when the key converts
    in [as_of_date, as_of_date + window)), `sample_weight` (its weight in training; 0 for a row
    read only to evaluate) and `in_evaluation`. Persons already converted before the as-of date
    are not eligible for a lead-conversion goal."""
    labelled, parameters = _labelled_sql(goal, span)
    key = KEY_COLUMN[goal.entity]
    return con.sql(
        f"""
        select * from (
            select
                *,
                case
                    when hash({key}) % 1000000 < $key_threshold
                        and hash({key}, as_of_date) % 1000000
                            < case when label = 1 then $positive_threshold else $negative_threshold end
                    then case when label = 1 then $positive_weight else $negative_weight end
                    else 0
                end::double as sample_weight,
                hash({key}) % 1000000 < $evaluation_threshold
                    and as_of_date >= $evaluation_from as in_evaluation
            from ({labelled})
        )
        where sample_weight > 0 or in_evaluation
        order by as_of_date, {key}
        """,
        params={
            **parameters,
            "key_threshold": _threshold(sampling.key_share),
            "positive_threshold": _threshold(sampling.positive_share),
            "negative_threshold": _threshold(sampling.negative_share),
            "positive_weight": 1.0 / sampling.positive_share,
            "negative_weight": 1.0 / sampling.negative_share,
            "evaluation_threshold": _threshold(sampling.evaluation_key_share),
            "evaluation_from": sampling.evaluation_from or datetime.date.min,
        },
    ).to_arrow_table()


def _threshold(share: float) -> int:
    return 1_000_001 if share >= 1 else round(share * 1_000_000)


@dataclass(frozen=True)
class LabelSummary:
    rows: int
    positive_rows: int
    keys: int
    converting_keys: int
    evaluation_rows: int  # on the backtest's test dates


def label_summary(con: duckdb.DuckDBPyConnection, goal: Goal, span: DataSpan) -> LabelSummary:
    """Counts of the labelled snapshots, computed in DuckDB."""
    labelled, parameters = _labelled_sql(goal, span)
    key = KEY_COLUMN[goal.entity]
    row = con.sql(
        f"select count(*), coalesce(sum(label), 0), count(distinct {key}), "
        f"count(distinct case when label = 1 then {key} end), "
        f"count(*) filter (where as_of_date >= $evaluation_from) from ({labelled})",
        params={**parameters, "evaluation_from": span.first_backtest_date},
    ).fetchall()[0]
    return LabelSummary(*(int(value) for value in row))


def budgeted_training_set(
    con: duckdb.DuckDBPyConnection, goal: Goal, max_rows: int
) -> tuple[pa.Table, LabelSummary, Sampling]:
    """The goal's training set as the pipeline trains on it (`training_set` with `sampling_for`
    the row budget), with the summary of all its labelled snapshots and the sampling used."""
    span = data_span(con, goal)
    summary = label_summary(con, goal, span)
    sampling = sampling_for(summary, span, max_rows)
    return training_set(con, goal, span, sampling), summary, sampling


@dataclass(frozen=True)
class GateResult:
    """One data-quality gate of a goal: passed or not, blocking or a warning, and why."""

    name: str
    passed: bool
    blocking: bool
    message: str
    numbers: dict[str, int | str]


def history_gate(goal: Goal, span: DataSpan) -> GateResult:
    """At least 6 months plus the prediction window of history; a warning below 2 years."""
    required = MIN_HISTORY_MONTHS * 30 + goal.prediction_window_days
    numbers: dict[str, int | str] = {
        "history_days": span.history_days,
        "required_days": required,
        "recommended_days": RECOMMENDED_HISTORY_DAYS,
        "first_event_date": str(span.first_event_date),
        "last_event_date": str(span.last_event_date),
    }
    if span.history_days < required:
        message = (
            f"{span.history_days} days of history; goal {goal.name} needs at least {required} "
            f"(6 months + its {goal.prediction_window_days}-day prediction window)"
        )
        return GateResult("enough_history", False, True, message, numbers)
    if span.history_days < RECOMMENDED_HISTORY_DAYS:
        message = f"{span.history_days} days of history: enough, but below the recommended 2 years"
        return GateResult("enough_history", False, False, message, numbers)
    return GateResult("enough_history", True, True, f"{span.history_days} days of history", numbers)


def conversions_gate(goal: Goal, summary: LabelSummary) -> GateResult:
    """At least MIN_CONVERSIONS distinct converting keys in the labelled training window."""
    converters = summary.converting_keys
    numbers: dict[str, int | str] = {
        "converting_keys": converters,
        "positive_rows": summary.positive_rows,
        "rows": summary.rows,
        "keys": summary.keys,
        "required": MIN_CONVERSIONS,
    }
    passed = converters >= MIN_CONVERSIONS
    message = (
        f"{converters} {goal.entity}s converted ({goal.conversion.describe()}) in the labelled "
        f"snapshots; {'enough' if passed else f'at least {MIN_CONVERSIONS} needed'}"
    )
    return GateResult("enough_conversions", passed, True, message, numbers)
