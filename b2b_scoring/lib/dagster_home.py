"""The Dagster instance directory (DAGSTER_HOME) of the project."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

INSTANCE_CONFIG_NAME = "dagster.yaml"


def instance_config_template() -> Path:
    """The dagster.yaml shipped with the package: telemetry off, DuckDB pool limited to one step."""
    return Path(str(resources.files("b2b_scoring").joinpath(INSTANCE_CONFIG_NAME)))


def ensure_dagster_home(dagster_home: Path) -> Path:
    """Create `dagster_home` with the project's dagster.yaml unless one is already there.

    An existing dagster.yaml is the user's to keep; it is never overwritten.
    """
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / INSTANCE_CONFIG_NAME
    if not config.exists():
        shutil.copyfile(instance_config_template(), config)
    return dagster_home
