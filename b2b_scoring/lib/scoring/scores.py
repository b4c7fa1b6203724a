"""Daily scores of a population from a trained model: probability, score, percentile, tier, queue,
influential factors and what moved since the previous score date.

Score (0-100) is a fixed function of the calibrated probability, so it is monotone in it and
stable from day to day (it moves only when the record's probability moves):

    score = 50 + 10 * log2( odds(probability) / odds(base rate) ), clipped to 0..100, rounded

where the base rate is the positive share of the model's training rows. 50 is an average record,
every 10 points double the odds of converting (60: twice the average odds, 40: half of them).
Percentile (1-100) ranks the day's population: the share of records scored at or below this
probability. Tiers follow the goal's cut-offs on the score, or tier A takes the goal's sales
capacity (the N most likely records); each tier maps to a routing queue. A goal's exploration
share flags a fixed random cohort of tier C records and routes them to sales anyway, so that
low scores get worked and labelled too (retraining on worked leads alone would learn only the top).
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
    scored: pa.Table,
    key_column: str,
    population: np.ndarray,
    tier_a_floor: float | None,
    policy: ScoringPolicy,
) -> pa.Table:
    """Intraday scores of a few records placed in the day's scored population: percentile among
    its probabilities; with a sales-capacity tier A, A from the lowest probability it admitted
    (and the exploration slice of the tier C that follows)."""
    probability = scored["probability"].to_numpy()
    scored = scored.set_column(
        scored.schema.get_field_index("percentile"),
        "percentile",
        pa.array(percentiles(probability, population), pa.int16()),
    )
    if policy.a_capacity is None or tier_a_floor is None:
        return scored
    tier = tiers(scored["score"].to_numpy(), probability, None, policy, tier_a_floor)
    exploration = exploration_slice(tier, scored[key_column], policy)
    tier, route = tier_columns(tier, policy, exploration)
    scored = scored.set_column(scored.schema.get_field_index("tier"), "tier", tier)
    scored = scored.set_column(
        scored.schema.get_field_index("exploration"), "exploration", pa.array(exploration, pa.bool_())
    )
    return scored.set_column(scored.schema.get_field_index("route"), "route", route)


TIERS = np.array(["A", "B", "C"])
LOWEST_TIER = len(TIERS) - 1
_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
_MIX_MULTIPLIERS = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))


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


def tier_columns(
    tier: np.ndarray, policy: ScoringPolicy, exploration: np.ndarray | None = None
) -> tuple[pa.Array, pa.Array]:
    """The tier letters and routing queues of tier indexes (the exploration queue for the records
    of the exploration slice)."""
    routes = dict(policy.routes)
    route_of_tier = np.array([routes[name] for name in TIERS], dtype=object)
    route = route_of_tier[tier]
    if exploration is not None:
        route = np.where(exploration, policy.exploration_route, route)
    return pa.array(TIERS[tier], pa.string()), pa.array(route, pa.string())


def stable_unit_interval(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per key: a 64-bit hash of its UTF-8 bytes, so a key
    draws the same number on every run, day and machine. Not DuckDB's hash(), which the matcher
    and drift samples use: it may change with a DuckDB upgrade, and a cohort that changes
    re-routes leads to sales. Vectorized over the keys, byte position by byte position."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    keys = keys.cast(pa.large_string())
    offsets = np.frombuffer(keys.buffers()[1], dtype=np.int64)[keys.offset : keys.offset + len(keys) + 1]
    data = np.frombuffer(keys.buffers()[2], dtype=np.uint8) if len(keys) else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    digest = np.full(len(keys), _FNV_OFFSET, dtype=np.uint64)
    for position in range(int(lengths.max(initial=0))):
        active = lengths > position
        digest[active] = (digest[active] ^ data[starts[active] + position]) * _FNV_PRIME
    # FNV-1a alone leaves keys that differ in their last characters close together in the high
    # bits; MurmurHash3's finalizer spreads them.
    for multiplier in _MIX_MULTIPLIERS:
        digest ^= digest >> np.uint64(33)
        digest *= multiplier
    digest ^= digest >> np.uint64(33)
    return (digest >> np.uint64(11)).astype(np.float64) / 2.0**53


def exploration_slice(
    tier: np.ndarray, keys: pa.Array | pa.ChunkedArray, policy: ScoringPolicy
) -> np.ndarray:
    """The records of the lowest tier that belong to the goal's exploration share: a fixed random
    cohort of keys, so the same low-score leads stay in the slice from day to day."""
    if policy.exploration_share <= 0:
        return np.zeros(len(tier), dtype=bool)
    return (tier == LOWEST_TIER) & (stable_unit_interval(keys) < policy.exploration_share)


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
        probability = model_probability(trained, features, rollups)
        assert rollups is not None
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
        drivers = _drivers(trained, features, key_column, matrix, contributions, previous_features)
    score = score_from_probability(probability, trained.base_rate)
    tier_index = tiers(score, probability, keys, policy)
    exploration = exploration_slice(tier_index, features[key_column], policy)
    tier, route = tier_columns(tier_index, policy, exploration)
    columns = {
        key_column: features[key_column],
        "probability": pa.array(probability, pa.float64()),
        "score": pa.array(score, pa.int16()),
        "percentile": pa.array(percentiles(probability), pa.int16()),
        "tier": tier,
        "route": route,
        "exploration": pa.array(exploration, pa.bool_()),
        "influential_factors": factors,
        "change_drivers": drivers,
    }
    for name, values in (rollups or {}).items():
        columns[f"rollup_{name}"] = pa.array(values, pa.float64())
    return pa.table(columns)


def model_probability(
    trained: TrainedModel, features: pa.Table, rollups: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """The calibrated probability of each record, without explanations (shadow scoring)."""
    if trained.rollup_source is None:
        return trained.probability(features)
    if rollups is None:
        raise ValueError(
            f"the model scores with the {trained.rollup_source} roll-up: person scores are needed"
        )
    assert trained.rollup_calibrator is not None
    return trained.rollup_calibrator.probability(rollups[trained.rollup_source])


def shadow_scores(
    trained: TrainedModel,
    features: pa.Table,
    key_column: str,
    policy: ScoringPolicy,
    rollups: dict[str, np.ndarray] | None = None,
) -> pa.Table:
    """A challenger's probability, score and tier of each record, as it would have scored them."""
    assert trained.base_rate is not None, "the challenger artifact predates scoring"
    probability = model_probability(trained, features, rollups)
    score = score_from_probability(probability, trained.base_rate)
    keys = features[key_column].to_numpy(zero_copy_only=False)
    tier, _ = tier_columns(tiers(score, probability, keys, policy), policy)
    return pa.table(
        {
            "record_key": features[key_column],
            "probability": pa.array(probability, pa.float64()),
            "score": pa.array(score, pa.int16()),
            "tier": tier,
        }
    )


def _drivers(
    trained: TrainedModel,
    features: pa.Table,
    key_column: str,
    matrix: np.ndarray,
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
            earlier = trained.encoder.matrix(previous_features.take(pc.drop_null(position)))
            rows = np.flatnonzero(has_before)
            # Most records do not change from one day to the next: their contributions are today's.
            same = np.ones(len(rows), dtype=bool)
            for column in range(matrix.shape[1]):  # by column: no copy of the whole matrix
                was, now = earlier[:, column], matrix[rows, column]
                same &= (was == now) | (np.isnan(was) & np.isnan(now))
            before[rows[same]] = contributions[rows[same]]
            before[rows[~same]] = log_odds_contributions(
                trained.model.contributions(earlier[~same]), trained.algorithm
            )
    return change_drivers(contributions, before, has_before, FieldGroups.of(trained.encoder))
