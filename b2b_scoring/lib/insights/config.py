"""insights.yaml: intent topic groups per product line and how intent is scored, validated at load
(errors name the file and the field)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class InsightsConfigError(ValueError):
    """insights.yaml is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class IntentConfig:
    product_lines: dict[str, tuple[str, ...]]
    lookback_days: int = 56
    half_life_days: float = 14.0
    recent_days: int = 14
    first_party_weight: float = 0.5
    scale: float = 1.5
    high: float = 70.0
    medium: float = 40.0
    low: float = 15.0


@dataclass(frozen=True)
class InsightsConfig:
    intent: IntentConfig


def default_insights_path() -> Path:
    return Path(str(resources.files("b2b_scoring") / "insights.yaml"))


def load_insights(path: Path) -> InsightsConfig:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InsightsConfigError(f"{path}: cannot read the insights file ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise InsightsConfigError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("intent"), Mapping):
        raise InsightsConfigError(f"{path}: expected a mapping with an `intent:` section")
    return InsightsConfig(intent=_intent(path, document["intent"]))


def _intent(path: Path, section: Mapping[str, Any]) -> IntentConfig:
    lines = section.get("product_lines")
    if not isinstance(lines, Mapping) or not lines:
        raise InsightsConfigError(f"{path}: intent.product_lines must map product lines to topic lists")
    product_lines: dict[str, tuple[str, ...]] = {}
    for name, topics in lines.items():
        if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t for t in topics):
            raise InsightsConfigError(
                f"{path}: intent.product_lines.{name} must be a non-empty list of topics"
            )
        product_lines[str(name)] = tuple(topics)
    levels = section.get("levels", {})
    numbers = {
        "lookback_days": section.get("lookback_days", 56),
        "half_life_days": section.get("half_life_days", 14),
        "recent_days": section.get("recent_days", 14),
        "first_party_weight": section.get("first_party_weight", 0.5),
        "scale": section.get("scale", 1.5),
        "high": levels.get("high", 70),
        "medium": levels.get("medium", 40),
        "low": levels.get("low", 15),
    }
    for field_name, value in numbers.items():
        where = (
            f"intent.levels.{field_name}"
            if field_name in ("high", "medium", "low")
            else f"intent.{field_name}"
        )
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise InsightsConfigError(f"{path}: {where} must be a non-negative number, got {value!r}")
    if not numbers["recent_days"] < numbers["lookback_days"]:
        raise InsightsConfigError(f"{path}: intent.recent_days must be less than intent.lookback_days")
    if not 0 < numbers["low"] <= numbers["medium"] <= numbers["high"] <= 100:
        raise InsightsConfigError(f"{path}: intent.levels must satisfy 0 < low <= medium <= high <= 100")
    if numbers["half_life_days"] == 0 or numbers["scale"] == 0:
        raise InsightsConfigError(f"{path}: intent.half_life_days and intent.scale must be positive")
    return IntentConfig(
        product_lines=product_lines,
        lookback_days=int(numbers["lookback_days"]),
        half_life_days=float(numbers["half_life_days"]),
        recent_days=int(numbers["recent_days"]),
        first_party_weight=float(numbers["first_party_weight"]),
        scale=float(numbers["scale"]),
        high=float(numbers["high"]),
        medium=float(numbers["medium"]),
        low=float(numbers["low"]),
    )
