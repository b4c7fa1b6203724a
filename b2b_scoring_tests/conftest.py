import datetime
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from b2b_scoring.defs.features.dbt import defs as dbt_definitions
from b2b_scoring.defs.matching.assets import defs as matching_definitions
from b2b_scoring.defs.monitoring.assets import _entity_monitoring, monitoring_keys
from b2b_scoring.defs.partitions import partition_range_tags
from b2b_scoring.defs.raw.assets import raw_definitions
from b2b_scoring.defs.resources import resources
from b2b_scoring.defs.scoring.assets import DATE, GOAL, _entity_assets, export_key, score_key
from b2b_scoring.defs.training.assets import training_definitions
from b2b_scoring.lib.settings import Settings

# A small, fixed world: 60 days ending 2025-06-30, partitions from 2025-05-01.
TINY_ENV = {
    "B2B_SCORING_PERSONS": "1000",
    "B2B_SCORING_SEED": "7",
    "B2B_SCORING_SIM_END_DATE": "2025-06-30",
    "B2B_SCORING_HISTORY_DAYS": "60",
    "B2B_SCORING_START_DATE": "2025-05-01",
    # The weekly history in runs of 3 Mondays (large worlds build it in bounded runs).
    "B2B_SCORING_HISTORY_WEEKS_PER_RUN": "3",
}
TINY_END_DATE = datetime.date(2025, 6, 30)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No B2B_SCORING_* or DAGSTER_HOME from the developer's shell; data goes to a temp dir."""
    for name in list(os.environ):
        if name.startswith("B2B_SCORING_") or name == "DAGSTER_HOME":
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("B2B_SCORING_DATA_DIR", str(data_dir))
    return data_dir


# Run tags that make one run cover every partition of the tiny world (a single-run backfill).
TINY_RANGE_TAGS = partition_range_tags(TINY_ENV["B2B_SCORING_START_DATE"], TINY_END_DATE.isoformat())


def tiny_world_env(data_dir: Path) -> dict[str, str]:
    return {**TINY_ENV, "B2B_SCORING_DATA_DIR": str(data_dir)}


@contextmanager
def tiny_world_settings(data_dir: Path) -> Iterator[Settings]:
    """The environment of the tiny world in data_dir, and its settings, for a module fixture."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in tiny_world_env(data_dir).items():
            patch.setenv(name, value)
        yield Settings.from_env()


@pytest.fixture(scope="session")
def tiny_pipeline(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, dg.ExecuteInProcessResult]]:
    """The tiny world's raw tables, matches, staging and every dbt model over all its partitions, built once
    per test session; tests that change the warehouse work on a copy."""
    data_dir = tmp_path_factory.mktemp("tiny_pipeline") / "data"
    with tiny_world_settings(data_dir) as settings:
        raw, matching, dbt = raw_definitions(), matching_definitions(), dbt_definitions()
        result = dg.materialize(
            [*raw.assets, *matching.assets, *dbt.assets],
            resources={**resources().resources, **dbt.resources},
            tags=TINY_RANGE_TAGS,
        )
        yield settings, result


# A world long enough to train on: 400 days of 1,500 persons.
YEAR_ENV = {
    "B2B_SCORING_PERSONS": "1500",
    "B2B_SCORING_SEED": "11",
    "B2B_SCORING_SIM_END_DATE": "2025-06-30",
    "B2B_SCORING_HISTORY_DAYS": "400",
    "B2B_SCORING_START_DATE": "2024-05-01",
}


@dataclass(frozen=True)
class YearWorld:
    settings: Settings
    training: dict[str, dg.ExecuteInProcessResult]


@pytest.fixture(scope="session")
def year_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[YearWorld]:
    """The 400-day world's raw tables, staging and weekly feature history, then the training job
    of every goal (gates, backtest, registry), built once per session. Tests only read it."""
    data_dir = tmp_path_factory.mktemp("year_world") / "data"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**YEAR_ENV, "B2B_SCORING_DATA_DIR": str(data_dir)}.items():
            patch.setenv(name, value)
        settings = Settings.from_env()
        raw, matching, dbt = raw_definitions(), matching_definitions(), dbt_definitions()
        training = training_definitions()
        all_resources = {**resources().resources, **dbt.resources}
        unpartitioned_dbt = [a for a in dbt.assets if a.partitions_def is None]
        built = dg.materialize(
            [*raw.assets, *matching.assets, *unpartitioned_dbt],
            resources=all_resources,
            tags=partition_range_tags(YEAR_ENV["B2B_SCORING_START_DATE"], "2025-06-30"),
        )
        assert built.success
        trained = {
            goal: dg.materialize(
                training.assets, resources=all_resources, partition_key=goal, raise_on_error=False
            )
            for goal in settings.goals().names()
        }
        yield YearWorld(settings, trained)


def copy_year_world(year_world: YearWorld, directory: Path) -> Path:
    """A writable copy of the 400-day world's data (without its Dagster home): directory/data."""
    data_dir = directory / "data"
    shutil.copytree(year_world.settings.data_dir, data_dir, ignore=shutil.ignore_patterns("dagster_home"))
    return data_dir


def use_year_world(patch: pytest.MonkeyPatch, data_dir: Path) -> Settings:
    """Point the B2B_SCORING_* environment at a copy of the 400-day world; its settings."""
    for name, value in {**YEAR_ENV, "B2B_SCORING_DATA_DIR": str(data_dir)}.items():
        patch.setenv(name, value)
    return Settings.from_env()


class PersonScoring:
    """Daily features, then the person scoring job's assets (scores, monitoring, CRM export) of one
    goal, day by day, in process."""

    def __init__(self, settings: Settings, goal: str) -> None:
        self.settings, self.goal = settings, goal
        dbt = dbt_definitions()
        self.resources = {**resources().resources, **dbt.resources}
        self.daily_dbt = [a for a in dbt.assets if a.partitions_def is not None]
        self.assets = [
            *_entity_assets(settings, "person"),
            *_entity_monitoring(settings, "person"),
            *training_definitions().assets,
        ]

    def features(self, first: str, last: str) -> None:
        assert dg.materialize(
            self.daily_dbt, resources=self.resources, tags=partition_range_tags(first, last)
        ).success

    def score(self, day: str) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            self.assets,
            resources=self.resources,
            partition_key=dg.MultiPartitionKey({DATE: day, GOAL: self.goal}),
            selection=[score_key("person"), *monitoring_keys("person"), export_key("person")],
            raise_on_error=False,
        )
