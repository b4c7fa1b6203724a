"""Ground truth: each person's and account's true probability to convert within a window.

The oracle knows the latent state at the as-of date (fit, persona, buying journeys and in-market
episodes that have started, journey engagement so far, opportunity stage outcomes already
revealed) but not the future: new journeys and episodes enter through their rates, and a random
draw counts only from the day it shows: whether a journey converts, when a running journey ends
(its engagement pace so far weighs the possible ends), when an opportunity reaches its next stage,
and whether a person joins the buying committee of an episode that has started (known when their
journey starts, until then a probability). Its AUC is the ceiling a model can approach.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from b2b_scoring.lib.simulator.config import ProcessParameters, month_activity

LEAD_CONVERSION = "lead_conversion"  # leadOperation.convertLead
OPPORTUNITY_CONTRACT = "opportunity_contract"  # opportunityEvent.opportunityUpdated: Stage -> Contract
GOALS = (LEAD_CONVERSION, OPPORTUNITY_CONTRACT)


def _uniform_pmf(low: int, high: int) -> np.ndarray:
    """Probabilities of the integers 0..high for a uniform draw on [low, high]."""
    pmf = np.zeros(high + 1)
    pmf[low:] = 1.0 / (high - low + 1)
    return pmf


def _expected_starts_converting(
    start_date: dt.date, as_of_day: int, window_days: int, delay_pmf: np.ndarray
) -> float:
    """Sum over the window's days u of month activity(u) x P(start on day u converts before the
    window ends), for a whole-day delay from start to conversion with pmf delay_pmf."""
    days = as_of_day + np.arange(window_days)
    cdf = np.cumsum(delay_pmf)
    remaining = window_days - 1 - np.arange(window_days)
    within = np.where(remaining >= len(cdf), 1.0, cdf[np.minimum(remaining, len(cdf) - 1)])
    return float(np.sum(month_activity(start_date, days.astype(float)) * within))


def _process_parameters(serialized: str) -> ProcessParameters:
    """The parameters the world was simulated with (JSON lists back to tuples)."""
    values = {
        key: tuple(tuple(v) if isinstance(v, list) else v for v in value)
        if isinstance(value, list)
        else value
        for key, value in json.loads(serialized).items()
    }
    return ProcessParameters(**values)


def _positions(keys: pa.Array | pa.ChunkedArray, lookup: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Row of each key in lookup (the truth tables need not be sorted)."""
    return pc.index_in(keys, value_set=lookup).to_numpy(zero_copy_only=False)


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def true_conversion_probability(
    truth: Mapping[str, pa.Table], as_of: dt.date, window_days: int, goal: str
) -> pa.Table:
    """True probability that each eligible person (lead_conversion) or account
    (opportunity_contract) converts in [as_of, as_of + window_days), knowing everything latent
    that has happened strictly before as_of. The window must lie inside the simulated days."""
    if goal not in GOALS:
        raise ValueError(f"unknown goal {goal!r}; expected one of {GOALS}")
    if window_days < 1:
        raise ValueError(f"window_days must be positive, got {window_days}")
    meta = truth["meta"].to_pylist()[0]
    process = _process_parameters(meta["process"])
    start_date = meta["start_date"]
    day = (as_of - start_date).days
    if day < 1 or day + window_days > meta["history_days"]:
        last_as_of = start_date + dt.timedelta(days=meta["history_days"] - window_days)
        raise ValueError(
            f"as_of {as_of} with a {window_days}-day window is outside the simulated days: "
            f"use an as-of date from {start_date + dt.timedelta(days=1)} to {last_as_of}"
        )
    if goal == LEAD_CONVERSION:
        return _person_probability(truth, start_date, day, window_days, process)
    return _account_probability(truth, start_date, day, window_days, process)


def _person_probability(
    truth: Mapping[str, pa.Table], start_date: dt.date, day: int, window: int, process: ProcessParameters
) -> pa.Table:
    persons, accounts, journeys = truth["persons"], truth["accounts"], truth["journeys"]
    person_keys = _column(persons, "person_key")
    q = _column(persons, "conversion_probability")
    created = _column(persons, "created_day")
    converted = persons.column("converted_day").to_numpy(zero_copy_only=False).astype(float)
    eligible = (created < day) & ~(converted < day)

    person_position = _positions(journeys.column("person_key"), persons.column("person_key"))
    started = _column(journeys, "start_day") < day
    journey_open = np.flatnonzero(started & (_column(journeys, "end_day") >= day))
    ends_in_window = _open_journey_ends_in_window(truth, journey_open, day, window, process)
    log_no_conversion = np.zeros(len(person_keys))
    open_person = person_position[journey_open]
    np.add.at(log_no_conversion, open_person, np.log1p(-q[open_person] * ends_in_window))
    journey_pmf = _uniform_pmf(process.journey_min_days, process.journey_max_days)
    joined = pc.is_valid(journeys["episode_id"]).to_numpy(zero_copy_only=False) & started
    log_no_conversion += _pending_committee_log_no_conversion(
        truth,
        day,
        window,
        process.committee_offset_days,
        journey_pmf,
        person_position[joined],
        _column(journeys, "episode_id")[joined].astype(np.int64),
    )

    own = _expected_starts_converting(start_date, day, window, journey_pmf)
    committee_delay = np.convolve(_uniform_pmf(0, process.committee_offset_days - 1), journey_pmf)
    committee = _expected_starts_converting(start_date, day, window, committee_delay)
    account_position = _positions(persons.column("true_account_key"), accounts.column("account_key"))
    episode_rate = _column(accounts, "episodes_per_day")[account_position]
    future_rate = q * (
        _column(persons, "own_journeys_per_day") * own
        + episode_rate * _column(persons, "committee_probability") * committee
    )
    probability = 1.0 - np.exp(log_no_conversion - future_rate)
    return pa.table({"person_key": person_keys[eligible], "probability": probability[eligible]})


# Quadrature of the business-hours time of day at which a journey ends (normal, mean 13.5 h,
# sd 3 h, as the simulator draws it; its clipping to 0.1-23.9 h is past the outer nodes).
_END_HOUR_NODES, _END_HOUR_WEIGHTS = np.polynomial.hermite_e.hermegauss(5)
_END_HOURS = 13.5 + 3.0 * _END_HOUR_NODES
_END_HOUR_LOG_WEIGHTS = np.log(_END_HOUR_WEIGHTS / _END_HOUR_WEIGHTS.sum())


def _open_journey_ends_in_window(
    truth: Mapping[str, pa.Table], journey_rows: np.ndarray, day: int, window: int, process: ProcessParameters
) -> np.ndarray:
    """For each open journey (started before `day`, not ended), the probability that it ends in
    [day, day + window) given what has happened: its start, its intensity and its engagement
    before `day`. The journey's duration d (uniform in [journey_min_days, journey_max_days]) shows
    only at its end; until then engagement at time x into a journey of length D comes at rate
    intensity x (0.5 + x / D), so the pace so far weighs each possible end."""
    if len(journey_rows) == 0:
        return np.zeros(0)
    journeys = truth["journeys"]
    start = _column(journeys, "start_day")[journey_rows]
    intensity = _column(journeys, "intensity")[journey_rows]
    events = truth["journey_events"]
    event_row = _positions(
        events.column("journey_id"), journeys.column("journey_id").take(pa.array(journey_rows))
    )
    event_day = _column(events, "day")
    seen = (event_row >= 0) & (event_day < day)
    event_row = event_row[seen].astype(np.int64)
    elapsed_at_event = event_day[seen] - start[event_row]

    elapsed = day - start
    durations = np.arange(process.journey_min_days, process.journey_max_days + 1)
    end_day = np.floor(start)[:, None] + durations[None, :]  # the day the journey ends on
    log_weight = np.full((len(journey_rows), len(durations), len(_END_HOURS)), -np.inf)
    for i in range(len(durations)):
        possible = end_day[:, i] >= day
        for h, (hour, log_prior) in enumerate(zip(_END_HOURS, _END_HOUR_LOG_WEIGHTS, strict=True)):
            length = end_day[:, i] + hour / 24.0 - start
            pace = np.bincount(
                event_row,
                weights=np.log(0.5 + elapsed_at_event / length[event_row]),
                minlength=len(journey_rows),
            )
            log_likelihood = pace - intensity * (0.5 * elapsed + elapsed**2 / (2.0 * length))
            log_weight[:, i, h] = np.where(possible, log_likelihood + log_prior, -np.inf)
    log_weight = log_weight.reshape(len(journey_rows), -1)
    weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
    in_window = np.repeat(end_day < day + window, len(_END_HOURS), axis=1)
    return (weight * in_window).sum(axis=1) / weight.sum(axis=1)


def _pending_committee_log_no_conversion(
    truth: Mapping[str, pa.Table],
    day: int,
    window: int,
    offsets: int,
    journey_pmf: np.ndarray,
    joined_person: np.ndarray,
    joined_episode: np.ndarray,
) -> np.ndarray:
    """Per person, log P(no conversion in the window from committees of episodes started before
    `day` that the person has not joined so far). The simulator starts a member's journey on day
    k (uniform in 0..C-1, C = committee_offset_days) after the episode start, for persons who
    exist by then; with m of those days passed without a journey, joining later has probability
    p (C - m) / C / (1 - p m' / C), m' of the passed days counted only when the person existed."""
    persons, episodes = truth["persons"], truth["episodes"]
    episode_start = _column(episodes, "start_day")
    days_passed = np.ceil(day - episode_start)
    recent = np.flatnonzero((episode_start < day) & (days_passed < offsets))
    members = (
        pa.table({"person": np.arange(persons.num_rows), "account_key": persons["true_account_key"]})
        .join(
            pa.table({"episode": recent, "account_key": episodes["account_key"].take(pa.array(recent))}),
            keys="account_key",
            join_type="inner",
        )
        .select(["person", "episode"])
    )
    person = _column(members, "person")
    episode = _column(members, "episode")
    created = _column(persons, "created_day")[person]
    n_episodes = episodes.num_rows
    not_joined = ~np.isin(person * n_episodes + episode, joined_person * n_episodes + joined_episode)
    pending = not_joined & (created < day)
    person, episode, created = person[pending], episode[pending], created[pending]

    start = episode_start[episode]
    passed = days_passed[episode]
    passed_while_existing = passed - np.clip(np.ceil(created - start), 0, passed)
    join = _column(persons, "committee_probability")[person]
    # Day k's journey ends on day floor(start) + k + duration; P(that day falls in the window).
    k = np.arange(offsets)
    end_less_duration = np.floor(start)[:, None] + k[None, :] - day
    duration_cdf = np.r_[0.0, np.cumsum(journey_pmf)]

    def duration_at_most(x: np.ndarray) -> np.ndarray:
        return duration_cdf[np.clip(x + 1, 0, len(duration_cdf) - 1).astype(np.int64)]

    ends_in_window = duration_at_most(window - 1 - end_less_duration) - duration_at_most(
        -1 - end_less_duration
    )
    later = (k[None, :] >= passed[:, None]) * ends_in_window
    converts = (
        _column(persons, "conversion_probability")[person]
        * join
        / offsets
        * later.sum(axis=1)
        / (1 - join * passed_while_existing / offsets)
    )
    log_no_conversion = np.zeros(persons.num_rows)
    np.add.at(log_no_conversion, person, np.log1p(-converts))
    return log_no_conversion


def _account_probability(
    truth: Mapping[str, pa.Table], start_date: dt.date, day: int, window: int, process: ProcessParameters
) -> pa.Table:
    accounts, episodes = truth["accounts"], truth["episodes"]
    account_keys = _column(accounts, "account_key")
    advance = np.stack([_column(accounts, f"advance_probability_{k}") for k in (1, 2, 3)], axis=1)
    opportunity_probability = _column(accounts, "opportunity_probability")
    eligible = _column(accounts, "created_day") < day

    position = _positions(episodes.column("account_key"), accounts.column("account_key"))
    pending = (_column(episodes, "start_day") < day) & (_column(episodes, "stage_3_day") >= day)
    opened = _column(episodes, "stage_0_day") < day
    factor = np.where(opened, _column(episodes, "has_opportunity"), opportunity_probability[position])
    for k in (1, 2, 3):
        revealed = _column(episodes, f"stage_{k}_day") < day
        factor = factor * np.where(revealed, _column(episodes, f"advances_{k}"), advance[position, k - 1])
    open_pmf = _uniform_pmf(process.opportunity_open_min_days, process.opportunity_open_max_days)
    stage_pmf = _uniform_pmf(process.stage_min_days, process.stage_max_days)
    in_window = _contract_in_window(episodes, np.flatnonzero(pending), day, window, open_pmf, stage_pmf)
    log_no_contract = np.zeros(len(account_keys))
    np.add.at(
        log_no_contract,
        position[pending],
        np.log1p(-np.minimum(factor[pending] * in_window, 1 - 1e-12)),
    )

    delay = open_pmf
    for _ in range(3):
        delay = np.convolve(delay, stage_pmf)
    expected = _expected_starts_converting(start_date, day, window, delay)
    future_rate = (
        _column(accounts, "episodes_per_day") * opportunity_probability * advance.prod(axis=1) * expected
    )
    probability = 1.0 - np.exp(log_no_contract - future_rate)
    return pa.table({"account_key": account_keys[eligible], "probability": probability[eligible]})


def _contract_in_window(
    episodes: pa.Table,
    rows: np.ndarray,
    day: int,
    window: int,
    open_pmf: np.ndarray,
    stage_pmf: np.ndarray,
) -> np.ndarray:
    """For each in-market episode that has started but not reached Contract by `day`, the
    probability that Contract would fall in [day, day + window) given the timing shown so far.
    The opportunity opens a whole number of days (open_pmf) after the episode starts and every
    stage lasts whole days (stage_pmf); a wait shows only when it ends, so the wait in progress
    is known only to be at least as long as it has lasted."""
    stage_day = np.stack([_column(episodes, f"stage_{k}_day")[rows] for k in range(3)], axis=1)
    reached = stage_day < day
    last_stage = np.where(reached.any(axis=1), 2 - np.argmax(reached[:, ::-1], axis=1), -1)
    since = np.where(
        last_stage >= 0,
        stage_day[np.arange(len(rows)), np.maximum(last_stage, 0)],
        _column(episodes, "start_day")[rows],
    )
    probability = np.zeros(len(rows))
    for stage in (-1, 0, 1, 2):
        here = last_stage == stage
        first_wait = open_pmf if stage < 0 else stage_pmf
        later_waits = np.ones(1)
        for _ in range(2 - stage):
            later_waits = np.convolve(later_waits, stage_pmf)
        later_cdf = np.cumsum(later_waits)
        waits = np.arange(len(first_wait))
        # Whole waits w of the running step with since + w >= day, and the rest of the way r with
        # since + w + r < day + window.
        lasted = np.ceil(day - since[here])[:, None]
        left = np.ceil(day + window - since[here])[:, None] - 1 - waits[None, :]
        rest_fits = np.where(left < 0, 0.0, later_cdf[np.clip(left, 0, len(later_cdf) - 1).astype(np.int64)])
        possible = first_wait[None, :] * (waits[None, :] >= lasted)
        probability[here] = (possible * rest_fits).sum(axis=1) / possible.sum(axis=1)
    return probability
