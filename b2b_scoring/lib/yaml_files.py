"""Reading the project's YAML configuration files, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml_file(path: Path, error_type: type[ValueError], what: str) -> Any:
    """The parsed document of `path`; `error_type` naming the file when it cannot be read or is
    not YAML (`what`: "goals file", ...)."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise error_type(f"{path}: cannot read the {what} ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise error_type(f"{path}: not valid YAML ({error})") from None
