"""Project settings, read from `B2B_SCORING_*` environment variables in one place.

Nothing else in the package reads the environment: callers build `Settings.from_env()` once
(in a `@dg.definitions` function, the CLI or a benchmark) and pass values on.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from b2b_scoring.lib.goals import ENVIRONMENTS, Environment, GoalSet, default_goals_path, load_goals
from b2b_scoring.lib.insights.config import InsightsConfig, default_insights_path, load_insights
from b2b_scoring.lib.simulator.config import yesterday_utc

SourceKind = Literal["simulator", "landing"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("simulator", "landing")

DEFAULT_PERSONS = 20_000
DEFAULT_SEED = 7
DEFAULT_HISTORY_DAYS = 730
# Above this many labelled snapshots a goal trains on this many: its positives and a weighted share
# of its negatives (training_sets.sampling_for).
DEFAULT_MAX_TRAINING_ROWS = 1_000_000
# First daily partition. Fixed rather than derived from "today", so the partition set does not
# shift every day (which would orphan materialized partitions in the UI). The default simulated
# world spans the `DEFAULT_HISTORY_DAYS` days up to yesterday; a fixed date a few weeks before the
# default world's first day when this project started (2026-11) keeps fitting it forever, because
# that first day only moves forward. Longer histories need an earlier B2B_SCORING_START_DATE.
DEFAULT_START_DATE = datetime.date(2024, 11, 1)
DEFAULT_DUCKDB_MEMORY_LIMIT = "4GB"
DEFAULT_ENGAGEMENT_HALF_LIFE_DAYS = 14
DEFAULT_ALERT_SCORE_JUMP = 20
MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


class SettingsError(ValueError):
    """An environment variable has a value the project cannot use."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    source: SourceKind
    landing_dir: Path
    mapping_path: Path | None
    duckdb_memory_limit: str
    persons: int
    accounts: int | None
    seed: int
    sim_end_date: datetime.date
    history_days: int
    start_date: datetime.date
    engagement_half_life_days: int
    goals_path: Path
    environment: Environment
    dagster_home: Path
    max_training_rows: int = DEFAULT_MAX_TRAINING_ROWS
    # Mondays per dbt run of the weekly history; None: sized by the population.
    history_weeks_per_run: int | None = None
    # Lead-to-account matching: a fixed confidence threshold, or None for the lowest one (at
    # least 0.5) that keeps validation precision at match_min_precision.
    match_threshold: float | None = None
    match_min_precision: float = 0.99
    insights_path: Path | None = None
    # Alerts: a score rise of at least this many points day over day; a webhook to POST them to.
    alert_score_jump: int = DEFAULT_ALERT_SCORE_JUMP
    alert_webhook_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(_get(env, "B2B_SCORING_DATA_DIR") or "./data").expanduser().resolve()
        source = _choice(env, "B2B_SCORING_SOURCE", SOURCE_KINDS)
        environment = _choice(env, "B2B_SCORING_ENV", ENVIRONMENTS)
        landing_dir = _get(env, "B2B_SCORING_LANDING_DIR")
        dagster_home = _get(env, "DAGSTER_HOME")
        settings = cls(
            data_dir=data_dir,
            source=source,  # type: ignore[arg-type]  # validated above
            landing_dir=Path(landing_dir).expanduser().resolve() if landing_dir else data_dir / "landing",
            mapping_path=_path(env, "B2B_SCORING_MAPPING"),
            duckdb_memory_limit=_get(env, "B2B_SCORING_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT,
            persons=_int(env, "B2B_SCORING_PERSONS", DEFAULT_PERSONS, minimum=10),
            accounts=_optional_int(env, "B2B_SCORING_ACCOUNTS", minimum=1),
            seed=_int(env, "B2B_SCORING_SEED", DEFAULT_SEED, minimum=0),
            sim_end_date=_date(env, "B2B_SCORING_SIM_END_DATE") or yesterday_utc(),
            history_days=_int(env, "B2B_SCORING_HISTORY_DAYS", DEFAULT_HISTORY_DAYS, minimum=30),
            start_date=_date(env, "B2B_SCORING_START_DATE") or DEFAULT_START_DATE,
            engagement_half_life_days=_int(
                env, "B2B_SCORING_ENGAGEMENT_HALF_LIFE_DAYS", DEFAULT_ENGAGEMENT_HALF_LIFE_DAYS, minimum=1
            ),
            goals_path=_path(env, "B2B_SCORING_GOALS") or default_goals_path(),
            environment=environment,  # type: ignore[arg-type]  # validated above
            dagster_home=(
                Path(dagster_home).expanduser().resolve() if dagster_home else data_dir / "dagster_home"
            ),
            max_training_rows=_int(
                env, "B2B_SCORING_MAX_TRAINING_ROWS", DEFAULT_MAX_TRAINING_ROWS, minimum=1000
            ),
            history_weeks_per_run=_optional_int(env, "B2B_SCORING_HISTORY_WEEKS_PER_RUN", minimum=1),
            match_threshold=_optional_share(env, "B2B_SCORING_MATCH_THRESHOLD"),
            match_min_precision=_share(env, "B2B_SCORING_MATCH_MIN_PRECISION", 0.99),
            insights_path=_path(env, "B2B_SCORING_INSIGHTS"),
            alert_score_jump=_int(env, "B2B_SCORING_ALERT_SCORE_JUMP", DEFAULT_ALERT_SCORE_JUMP, minimum=1),
            alert_webhook_url=_get(env, "B2B_SCORING_ALERT_WEBHOOK_URL"),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not MEMORY_LIMIT.fullmatch(self.duckdb_memory_limit):
            raise SettingsError(
                f"B2B_SCORING_DUCKDB_MEMORY_LIMIT={self.duckdb_memory_limit!r} is not a size "
                "such as 4GB or 512MB."
            )
        if self.alert_webhook_url is not None and not self.alert_webhook_url.startswith(
            ("http://", "https://")
        ):
            raise SettingsError(
                f"B2B_SCORING_ALERT_WEBHOOK_URL={self.alert_webhook_url!r} is not an http(s) URL."
            )
        if self.mapping_path is not None and not self.mapping_path.is_file():
            raise SettingsError(f"B2B_SCORING_MAPPING={self.mapping_path} is not a file.")
        if self.source == "simulator" and self.sim_start_date < self.start_date:
            raise SettingsError(
                f"The simulated world starts on {self.sim_start_date}, before the first daily "
                f"partition B2B_SCORING_START_DATE={self.start_date}: its earliest events could never "
                f"be loaded. Set B2B_SCORING_START_DATE to {self.sim_start_date} or earlier, or "
                f"lower B2B_SCORING_HISTORY_DAYS."
            )

    @property
    def sim_start_date(self) -> datetime.date:
        """First simulated day: `history_days` days ending on `sim_end_date` inclusive."""
        return self.sim_end_date - datetime.timedelta(days=self.history_days - 1)

    @property
    def duckdb_config(self) -> dict[str, str | bool]:
        """DuckDB settings for every connection to the warehouse: bounded memory (DuckDB spills
        to disk beyond it) and no extension downloads on an offline machine."""
        return {"memory_limit": self.duckdb_memory_limit, "autoinstall_known_extensions": False}

    def goals(self) -> GoalSet:
        """The scoring goals of `goals_path`, validated for `environment`."""
        return load_goals(self.goals_path, self.environment)

    def insights(self) -> InsightsConfig:
        """Intent topic groups and scoring (B2B_SCORING_INSIGHTS, default the shipped insights.yaml)."""
        return load_insights(self.insights_path or default_insights_path())

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def models_dir(self) -> Path:
        """Model artifacts: models/<goal>/v<version>.pkl, registered in ml.model_registry."""
        return self.data_dir / "models"

    @property
    def alerts_file(self) -> Path:
        return self.data_dir / "alerts" / "alerts.jsonl"

    @property
    def simulator_dir(self) -> Path:
        return self.data_dir / "simulator"

    @property
    def simulator_landing_dir(self) -> Path:
        return self.simulator_dir / "landing"


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = _get(env, name)
    return Path(raw).expanduser().resolve() if raw else None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices`; the first when unset."""
    value = _get(env, name) or choices[0]
    if value not in choices:
        raise SettingsError(f"{name}={value!r} is not supported: use one of {', '.join(choices)}.")
    return value


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = _optional_int(env, name, minimum)
    return default if value is None else value


def _optional_int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    raw = _get(env, name)
    if raw is None:
        return None
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer.") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}.")
    return value


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    value = _optional_share(env, name)
    return default if value is None else value


def _optional_share(env: Mapping[str, str], name: str) -> float | None:
    """A number between 0 and 1."""
    raw = _get(env, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number.") from None
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"{name}={value} must be between 0 and 1.")
    return value


def _date(env: Mapping[str, str], name: str) -> datetime.date | None:
    raw = _get(env, name)
    if raw is None:
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a date in YYYY-MM-DD form.") from None
