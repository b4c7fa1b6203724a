"""Size, seed and the generative process parameters of the simulated world."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def yesterday_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


@dataclass(frozen=True)
class ProcessParameters:
    """The latent buying process. Ground-truth probabilities are computed from these, so the
    simulator and the oracle must read the same values."""

    # Buying journeys of one person: research that ends, after a duration drawn uniformly in
    # [journey_min_days, journey_max_days], with a lead conversion with the person's probability.
    journey_min_days: int = 14
    journey_max_days: int = 56
    independent_journeys_per_year: float = 0.22
    # In-market episodes of an account: its buying committee starts journeys within
    # committee_offset_days of the episode start.
    episodes_per_year: float = 0.32
    episode_fit_slope: float = 0.8
    committee_offset_days: int = 28
    # Opportunity opened by an episode: days after the episode start, then days per stage.
    opportunity_open_min_days: int = 21
    opportunity_open_max_days: int = 63
    stage_min_days: int = 7
    stage_max_days: int = 35
    conversion_intercept: float = -2.7
    # (intercept, slope on account fit) of the logits: an episode opens an opportunity, and the
    # opportunity advances Prospecting -> Qualification -> Proposal -> Contract -> Closed Won.
    opportunity_logit: tuple[float, float] = (-0.3, 1.0)
    advance_logits: tuple[tuple[float, float], ...] = ((1.0, 0.5), (0.3, 0.5), (0.2, 0.6), (1.2, 0.5))
    # Intent signals of in-market accounts start this many days before the episode.
    intent_lead_days: int = 21
    intent_after_days: int = 90


@dataclass(frozen=True)
class SimulationConfig:
    """How big the world is and which days it covers (end_date inclusive)."""

    n_persons: int = 20_000
    n_accounts: int | None = None
    history_days: int = 730
    end_date: dt.date = field(default_factory=yesterday_utc)
    seed: int = 7
    process: ProcessParameters = field(default_factory=ProcessParameters)

    def __post_init__(self) -> None:
        if self.n_persons < 10:
            raise ValueError(f"n_persons must be at least 10, got {self.n_persons}")
        if self.n_accounts is not None and not 1 <= self.n_accounts <= self.n_persons:
            raise ValueError(f"n_accounts must be between 1 and n_persons, got {self.n_accounts}")
        if self.history_days < 30:
            raise ValueError(f"history_days must be at least 30, got {self.history_days}")

    @property
    def accounts(self) -> int:
        return self.n_accounts if self.n_accounts is not None else max(5, self.n_persons // 10)

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(days=self.history_days - 1)


# Seasonality: relative activity by calendar month (January first) and weekday (Monday first).
MONTH_ACTIVITY = np.array([1.0, 0.98, 1.0, 0.97, 0.95, 0.9, 0.85, 0.72, 0.97, 1.0, 0.98, 0.7])
WEEKDAY_ACTIVITY = np.array([1.0, 1.0, 1.0, 0.97, 0.85, 0.25, 0.2])


def _by_day(
    start_date: dt.date, day_offsets: np.ndarray, per_day: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """per_day evaluated once per distinct whole day, then looked up for every offset."""
    days = np.floor(day_offsets).astype(np.int64)
    if days.size == 0:
        return np.zeros(0)
    first = days.min()
    calendar = np.datetime64(start_date, "D") + np.arange(first, days.max() + 1)
    return per_day(calendar)[days - first]


def month_activity(start_date: dt.date, day_offsets: np.ndarray) -> np.ndarray:
    """Relative buying activity of each day (days counted from start_date)."""
    return _by_day(
        start_date, day_offsets, lambda d: MONTH_ACTIVITY[d.astype("datetime64[M]").astype("int64") % 12]
    )


def weekday_activity(start_date: dt.date, day_offsets: np.ndarray) -> np.ndarray:
    # 1970-01-01, day 0 of datetime64, was a Thursday.
    return _by_day(start_date, day_offsets, lambda d: WEEKDAY_ACTIVITY[(d.astype("int64") + 3) % 7])
