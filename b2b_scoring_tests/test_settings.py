import datetime
from pathlib import Path

import pytest

from b2b_scoring.lib.settings import DEFAULT_START_DATE, Settings, SettingsError
from b2b_scoring.lib.simulator.config import yesterday_utc


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.data_dir == tmp_path / "data"
    assert settings.data_dir.is_absolute()
    assert settings.source == "simulator"
    assert settings.landing_dir == tmp_path / "data" / "landing"
    assert (settings.persons, settings.accounts, settings.seed, settings.history_days) == (
        20_000,
        None,
        7,
        730,
    )
    assert settings.sim_end_date == yesterday_utc()
    assert settings.start_date == DEFAULT_START_DATE
    assert settings.warehouse_path == tmp_path / "data" / "warehouse.duckdb"
    assert settings.simulator_landing_dir == tmp_path / "data" / "simulator" / "landing"
    assert settings.dagster_home == tmp_path / "data" / "dagster_home"


def test_default_world_fits_default_partitions() -> None:
    settings = Settings.from_env({})
    assert settings.start_date <= settings.sim_start_date


def test_explicit_values(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "B2B_SCORING_DATA_DIR": str(tmp_path / "d"),
            "B2B_SCORING_SOURCE": "landing",
            "B2B_SCORING_LANDING_DIR": str(tmp_path / "drop"),
            "B2B_SCORING_PERSONS": "1_000_000",
            "B2B_SCORING_ACCOUNTS": "5000",
            "B2B_SCORING_SEED": "0",
            "B2B_SCORING_SIM_END_DATE": "2025-06-30",
            "B2B_SCORING_HISTORY_DAYS": "365",
            "B2B_SCORING_START_DATE": "2024-01-01",
            "DAGSTER_HOME": str(tmp_path / "home"),
            "B2B_SCORING_MATCH_MIN_PRECISION": "0",
        }
    )
    assert settings.match_min_precision == 0.0  # a valid share, not "unset"
    assert settings.source == "landing"
    assert settings.landing_dir == tmp_path / "drop"
    assert (settings.persons, settings.accounts, settings.seed) == (1_000_000, 5000, 0)
    assert settings.sim_end_date == datetime.date(2025, 6, 30)
    assert settings.sim_start_date == datetime.date(2024, 7, 1)
    assert settings.start_date == datetime.date(2024, 1, 1)
    assert settings.dagster_home == tmp_path / "home"


def test_blank_values_mean_default() -> None:
    assert Settings.from_env({"B2B_SCORING_PERSONS": " ", "B2B_SCORING_SOURCE": ""}).persons == 20_000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"B2B_SCORING_SOURCE": "s3"}, "B2B_SCORING_SOURCE='s3' is not supported"),
        ({"B2B_SCORING_PERSONS": "many"}, "B2B_SCORING_PERSONS='many' is not an integer"),
        ({"B2B_SCORING_PERSONS": "0"}, "B2B_SCORING_PERSONS=0 must be at least 1"),
        ({"B2B_SCORING_SIM_END_DATE": "30/06/2025"}, "B2B_SCORING_SIM_END_DATE='30/06/2025' is not a date"),
        (
            {"B2B_SCORING_SIM_END_DATE": "2025-06-30", "B2B_SCORING_START_DATE": "2025-06-01"},
            "Set B2B_SCORING_START_DATE to 2023-07-02 or earlier",
        ),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_landing_source_does_not_require_partitions_to_cover_the_simulated_world() -> None:
    env = {"B2B_SCORING_SOURCE": "landing", "B2B_SCORING_START_DATE": "2026-01-01"}
    assert Settings.from_env(env).start_date == datetime.date(2026, 1, 1)
