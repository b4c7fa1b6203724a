"""Where the dbt project is and how Dagster invokes it (pure, unit-tested)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def dbt_executable() -> str:
    """The dbt installed next to this Python (the project's venv), even when the venv is not
    activated; otherwise whatever `dbt` is on PATH."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


def build_dbt_args(
    warehouse_path: Path,
    window: tuple[dt.datetime, dt.datetime] | None = None,
    full_refresh: bool = False,
) -> list[str]:
    """`dbt build` arguments. The warehouse path is passed absolute because dbt runs with the
    dbt project as working directory. A partition window [start, end) becomes the min_date /
    max_date vars; a full refresh rebuilds everything and so drops the window on purpose."""
    dbt_vars: dict[str, str] = {"warehouse_path": str(Path(warehouse_path).resolve())}
    if window is not None and not full_refresh:
        start, end = window
        dbt_vars |= {"min_date": start.date().isoformat(), "max_date": end.date().isoformat()}
    args = ["build", "--vars", json.dumps(dbt_vars, sort_keys=True)]
    return [*args, "--full-refresh"] if full_refresh else args
