"""Daily scores of a population from a trained model: probability, score, percentile, tier, queue,
influential factors and what moved since the previous score date.

Score (0-100) is a fixed function of the calibrated probability, so it is monotone in it and
stable from day to day (it moves only when the record's probability moves):

    score = 50 + 10 * log2( odds(probability) / odds(base rate) ), clipped to 0..100, rounded

where the base rate is the positive share of the model's training rows. 50 is an average record,
every 10 points double the odds of converting (60: twice the average odds, 40: half of them).
Percentile (1-100) ranks the day's population: the share of records scored at or below this
probability. Tiers follow the goal's cut-offs on the score, or tier A takes the goal's sales
capacity (the N most likely records); each tier maps to a routing queue.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from b2b_scoring.lib.goals import ScoringPolicy
from b2b_scoring.lib.ml.training import TrainedModel
from b2b_scoring.lib.scoring.reasons import (
    FieldGroups,
    change_drivers,
    influential_factors,
    log_odds_contributions,
    no_change_drivers,
    rollup_factors,
)

AVERAGE_SCORE = 50
POINTS_TO_DOUBLE_ODDS = 10
_EPSILON = 1e-9


def score_from_probability(probability: np.ndarray, base_rate: float) -> np.ndarray:
    p = np.clip(np.asarray(probability, dtype=np.float64), _EPSILON, 1 - _EPSILON)
    base = min(max(base_rate, _EPSILON), 1 - _EPSILON)
    ratio = (p / (1 - p)) / (base / (1 - base))
    return np.clip(np.round(AVERAGE_SCORE + POINTS_TO_DOUBLE_ODDS * np.log2(ratio)), 0, 100).astype(np.int16)


def percentiles(probability: np.ndarray, population: np.ndarray | None = None) -> np.ndarray:
    """1-100: the share of the population (default: the records themselves) with this
    probability or less (ties share a value)."""
    ordered = np.sort(probability if population is None else population)
    at_or_below = np.searchsorted(ordered, probability, side="right")
    return np.clip(np.ceil(100.0 * at_or_below / max(len(ordered), 1)), 1, 100).astype(np.int16)


def relative_to_population(
    scored: pa.Table, population: np.ndarray, tier_a_floor: float | None, policy: ScoringPolicy
) -> pa.Table:
    """Intraday scores of a few records placed in the day's scored population: percentile among
    its probabilities; with a sales-capacity tier A, A from the lowest probability it admitted."""
    probability = scored["probability"].to_numpy()
    scored = scored.set_column(
        scored.schema.get_field_index("percentile"),
        "percentile",
        pa.array(percentiles(probability, population), pa.int16()),
    )
    if policy.a_capacity is None or tier_a_floor is None:
        return scored
    tier, route = tier_columns(
        tiers(scored["score"].to_numpy(), probability, None, policy, tier_a_floor), policy
    )
    scored = scored.set_column(scored.schema.get_field_index("tier"), "tier", tier)
    return scored.set_column(scored.schema.get_field_index("route"), "route", route)


TIERS = np.array(["A", "B", "C"])


def tiers(
    score: np.ndarray,
    probability: np.ndarray,
    keys: np.ndarray | None,
    policy: ScoringPolicy,
    tier_a_floor: float | None = None,
) -> np.ndarray:
    """Tier index per record: 0 (A), 1 (B), 2 (C). With a sales capacity, A is the capacity's most
    likely records, or, given `tier_a_floor`, the records at least that likely."""
    tier = np.where(score >= policy.b_min_score, 1, 2)
    if policy.a_capacity is None:
        tier[score >= policy.a_min_score] = 0
    elif tier_a_floor is not None:
        tier[probability >= tier_a_floor] = 0
    else:
        # Highest probability first, ties by key, so the same records win on every run.
        assert keys is not None, "a sales-capacity tier A ranks records by key on ties"
        order = np.lexsort((keys, -probability))
        tier[order[: policy.a_capacity]] = 0
    return tier


def tier_columns(tier: np.ndarray, policy: ScoringPolicy) -> tuple[pa.Array, pa.Array]:
    """The tier letters and routing queues of tier indexes."""
    routes = dict(policy.routes)
    route_of_tier = np.array([routes[name] for name in TIERS], dtype=object)
    return pa.array(TIERS[tier], pa.string()), pa.array(route_of_tier[tier], pa.string())


def score_records(
    trained: TrainedModel,
    features: pa.Table,
    key_column: str,
    policy: ScoringPolicy,
    previous_features: pa.Table | None = None,
    rollups: dict[str, np.ndarray] | None = None,
) -> pa.Table:
    """One row per record of `features`: key, probability, score, percentile, tier, route,
    influential_factors and change_drivers (against `previous_features`, the same records'
    features on the previous score date, when given). Accounts also get the roll-ups of their
    persons' probabilities (`rollups`, aligned with `features`); when the goal's backtest chose a
    roll-up, it gives the probability (calibrated) and the factors name the roll-ups."""
    if trained.base_rate is None:
        raise ValueError("the model artifact predates scoring (no base rate): retrain the goal")
    keys = features[key_column].to_numpy(zero_copy_only=False)
    if trained.rollup_source is not None:
        if rollups is None:
            raise ValueError(
                f"the model scores with the {trained.rollup_source} roll-up: person scores are needed"
            )
        assert trained.rollup_calibrator is not None
        probability = trained.rollup_calibrator.probability(rollups[trained.rollup_source])
        factors = rollup_factors(rollups, trained.rollup_source)
        # The roll-up, not the account features, moved the score: no feature drivers.
        drivers = no_change_drivers(len(keys))
    else:
        matrix = trained.encoder.matrix(features)
        raw_contributions = trained.model.contributions(matrix)
        # Contributions sum to the raw score: no second pass of the model.
        probability = trained.calibrator.probability(raw_contributions.sum(axis=1))
        contributions = log_odds_contributions(raw_contributions, trained.algorithm)
        factors = influential_factors(contributions, matrix, trained.encoder)
        drivers = _drivers(trained, features, key_column, contributions, previous_features)
    score = score_from_probability(probability, trained.base_rate)
    tier, route = tier_columns(tiers(score, probability, keys, policy), policy)
    columns = {
        key_column: features[key_column],
        "probability": pa.array(probability, pa.float64()),
        "score": pa.array(score, pa.int16()),
        "percentile": pa.array(percentiles(probability), pa.int16()),
        "tier": tier,
        "route": route,
        "influential_factors": factors,
        "change_drivers": drivers,
    }
    for name, values in (rollups or {}).items():
        columns[f"rollup_{name}"] = pa.array(values, pa.float64())
    return pa.table(columns)


def _drivers(
    trained: TrainedModel,
    features: pa.Table,
    key_column: str,
    contributions: np.ndarray,
    previous_features: pa.Table | None,
) -> pa.ListArray:
    """Change drivers against the same records' previous features (none for new records)."""
    has_before = np.zeros(features.num_rows, dtype=bool)
    before = contributions
    if previous_features is not None and previous_features.num_rows:
        position = pc.index_in(features[key_column], value_set=previous_features[key_column])
        has_before = pc.is_valid(position).to_numpy(zero_copy_only=False)
        before = np.zeros_like(contributions)
        if has_before.any():
            earlier = previous_features.take(pc.drop_null(position))
            before[has_before] = log_odds_contributions(
                trained.model.contributions(trained.encoder.matrix(earlier)), trained.algorithm
            )
    return change_drivers(contributions, before, has_before, FieldGroups.of(trained.encoder))
