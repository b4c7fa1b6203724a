"""Where the dbt project is and how Dagster invokes it (pure, unit-tested)."""

from __future__ import annotations

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


def manifest_is_stale(manifest_path: Path, project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """True when the manifest is missing or older than any file dbt parses."""
    if not manifest_path.exists():
        return True
    built = manifest_path.stat().st_mtime
    sources = [
        p
        for folder in ("models", "macros", "tests")
        for p in (project_dir / folder).rglob("*")
        if p.is_file()
    ]
    sources.append(project_dir / "dbt_project.yml")
    return any(p.stat().st_mtime > built for p in sources)


def build_dbt_args(warehouse_path: Path, full_refresh: bool = False) -> list[str]:
    """`dbt build` arguments. The warehouse path is passed absolute because dbt runs with the
    dbt project as working directory."""
    dbt_vars = {"warehouse_path": str(Path(warehouse_path).resolve())}
    args = ["build", "--vars", json.dumps(dbt_vars, sort_keys=True)]
    return [*args, "--full-refresh"] if full_refresh else args
