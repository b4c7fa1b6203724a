"""Where the dbt project is and how Dagster invokes it (pure, unit-tested)."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

from b2b_scoring.lib.settings import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
# dbt selector of the models Dagster runs per daily partition (the daily feature tables).
DAILY_PARTITIONED_SELECTOR = "tag:daily_partitioned"


def dbt_executable() -> str:
    """The dbt installed next to this Python (the project's venv), even when the venv is not
    activated; otherwise whatever `dbt` is on PATH."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


def manifest_is_stale(manifest_path: Path, project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """True when the manifest is missing or older than any file dbt parses."""
    if not manifest_path.exists():
        return True
    built = manifest_path.stat().st_mtime
    sources = [
        p
        for folder in ("models", "macros", "tests", "seeds", "snapshots")
        for p in (project_dir / folder).rglob("*")
        if p.is_file()
    ]
    sources.append(project_dir / "dbt_project.yml")
    return any(p.stat().st_mtime > built for p in sources)


def run_dbt_outside_dagster(args: list[str], target_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run dbt as Dagster would, but by hand (tests, benchmarks): own target and log folder, so
    concurrent invocations do not share dbt's files; output captured."""
    return subprocess.run(
        [dbt_executable(), *args, "--target-path", str(target_dir), "--log-path", str(target_dir / "logs")],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
    )


def as_of_window(partition_start: datetime.datetime, partition_end: datetime.datetime) -> tuple[str, str]:
    """Half-open range of as-of dates for a range of daily partitions [start, end): the features
    of day P are as of the end of P, i.e. as-of date P + 1, using all data of P and before."""
    one_day = datetime.timedelta(days=1)
    return (partition_start.date() + one_day).isoformat(), (partition_end.date() + one_day).isoformat()


def build_dbt_args(
    settings: Settings,
    warehouse_path: Path,
    full_refresh: bool = False,
    as_of: tuple[str, str] | None = None,
) -> list[str]:
    """`dbt build` arguments. The warehouse path is passed absolute because dbt runs with the
    dbt project as working directory; `as_of` is the as-of window of partitioned models."""
    dbt_vars: dict[str, str | int] = {
        "warehouse_path": str(Path(warehouse_path).resolve()),
        "duckdb_memory_limit": settings.duckdb_memory_limit,
        "engagement_half_life_days": settings.engagement_half_life_days,
    }
    if as_of is not None:
        dbt_vars["as_of_start"], dbt_vars["as_of_end"] = as_of
    args = ["build", "--vars", json.dumps(dbt_vars, sort_keys=True)]
    return [*args, "--full-refresh"] if full_refresh else args
