"""insights.yaml: intent topic groups per product line and how intent is scored, personas, and the
look-alike seeds and traits, validated at load (errors name the file and the field)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from b2b_scoring.lib.yaml_files import read_yaml_file

LEVEL_FIELDS = ("high", "medium", "low")


class InsightsConfigError(ValueError):
    """insights.yaml is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class IntentConfig:
    product_lines: dict[str, tuple[str, ...]]
    lookback_days: int = 56
    half_life_days: float = 14.0
    recent_days: int = 14
    first_party_weight: float = 0.5
    scale: float = 0.75
    high: float = 70.0
    medium: float = 40.0
    low: float = 15.0


# Seniorities of the job-title parser (dbt seed job_title_keywords), lowest first.
SENIORITY_LADDER: tuple[str, ...] = (
    "Intern",
    "Individual Contributor",
    "Senior",
    "Manager",
    "Director",
    "VP",
    "C-Level",
)


@dataclass(frozen=True)
class Persona:
    name: str
    functions: tuple[str, ...]
    min_seniority: str


LOOKALIKE_TRAITS: tuple[str, ...] = (
    "industry",
    "country",
    "employees",
    "revenue_per_employee",
    "engaged_persons",
    "engagement_events",
)
CLOSED_WON = "closed_won"


@dataclass(frozen=True)
class LookalikeConfig:
    # None: the accounts with a Closed Won opportunity; else account keys or website domains.
    seeds: tuple[str, ...] | None = None
    traits: tuple[str, ...] = LOOKALIKE_TRAITS
    prior_strength: float = 2.0
    behaviour_days: int = 90
    nearest_seeds: int = 3


@dataclass(frozen=True)
class InsightsConfig:
    intent: IntentConfig
    personas: tuple[Persona, ...]
    persona_engagement_days: int = 30
    lookalike: LookalikeConfig = LookalikeConfig()


def default_insights_path() -> Path:
    return Path(str(resources.files("b2b_scoring") / "insights.yaml"))


def load_insights(path: Path) -> InsightsConfig:
    document = read_yaml_file(path, InsightsConfigError, "insights file")
    if not isinstance(document, Mapping) or not isinstance(document.get("intent"), Mapping):
        raise InsightsConfigError(f"{path}: expected a mapping with an `intent:` section")
    days = document.get("persona_engagement_days", InsightsConfig.persona_engagement_days)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise InsightsConfigError(f"{path}: persona_engagement_days must be a positive integer, got {days!r}")
    return InsightsConfig(
        intent=_intent(path, document["intent"]),
        personas=_personas(path, document.get("personas")),
        persona_engagement_days=days,
        lookalike=_lookalike(path, document.get("lookalike", {})),
    )


def _lookalike(path: Path, section: object) -> LookalikeConfig:
    if not isinstance(section, Mapping):
        raise InsightsConfigError(f"{path}: lookalike must be a mapping")
    unknown = set(section) - {
        "seeds",
        "seeds_file",
        "traits",
        "prior_strength",
        "behaviour_days",
        "nearest_seeds",
    }
    if unknown:
        raise InsightsConfigError(f"{path}: lookalike has unknown fields: {', '.join(sorted(unknown))}")
    defaults = LookalikeConfig()
    seeds = _seeds(path, section.get("seeds", CLOSED_WON), section.get("seeds_file"))
    traits = section.get("traits", list(defaults.traits))
    if not isinstance(traits, list) or not traits or not set(traits) <= set(LOOKALIKE_TRAITS):
        raise InsightsConfigError(
            f"{path}: lookalike.traits must be a non-empty list of {', '.join(LOOKALIKE_TRAITS)}, "
            f"got {traits!r}"
        )
    prior = section.get("prior_strength", defaults.prior_strength)
    if not isinstance(prior, int | float) or isinstance(prior, bool) or prior <= 0:
        raise InsightsConfigError(
            f"{path}: lookalike.prior_strength must be a positive number, got {prior!r}"
        )
    counts = {
        name: section.get(name, getattr(defaults, name)) for name in ("behaviour_days", "nearest_seeds")
    }
    for name, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InsightsConfigError(f"{path}: lookalike.{name} must be a positive integer, got {value!r}")
    return LookalikeConfig(
        seeds=seeds, traits=tuple(dict.fromkeys(traits)), prior_strength=float(prior), **counts
    )


def _seeds(path: Path, seeds: object, seeds_file: object) -> tuple[str, ...] | None:
    """None for the Closed Won accounts; else the listed seeds, or the non-empty lines of
    seeds_file (relative to the insights file; a header line `account` or `domain` is skipped)."""
    if seeds_file is not None:
        if seeds != CLOSED_WON:
            raise InsightsConfigError(f"{path}: give lookalike.seeds or lookalike.seeds_file, not both")
        if not isinstance(seeds_file, str):
            raise InsightsConfigError(f"{path}: lookalike.seeds_file must be a path, got {seeds_file!r}")
        file = path.parent / seeds_file
        try:
            lines = file.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise InsightsConfigError(
                f"{path}: lookalike.seeds_file {file} cannot be read: {error}"
            ) from error
        listed = [line.strip() for line in lines if line.strip()]
        if listed and listed[0].lower() in ("account", "account_key", "domain", "website"):
            listed = listed[1:]
        return tuple(listed)
    if seeds == CLOSED_WON:
        return None
    if not isinstance(seeds, list) or not all(isinstance(seed, str) and seed.strip() for seed in seeds):
        raise InsightsConfigError(
            f"{path}: lookalike.seeds must be {CLOSED_WON} or a list of account keys or website domains, "
            f"got {seeds!r}"
        )
    return tuple(seed.strip() for seed in seeds)


def _personas(path: Path, section: object) -> tuple[Persona, ...]:
    if not isinstance(section, Mapping) or not section:
        raise InsightsConfigError(f"{path}: personas must map persona names to functions and min_seniority")
    personas = []
    for name, persona in section.items():
        where = f"{path}: personas.{name}"
        if not isinstance(persona, Mapping):
            raise InsightsConfigError(f"{where} must be a mapping with functions and min_seniority")
        functions = persona.get("functions")
        if not isinstance(functions, list) or not functions or not all(isinstance(f, str) for f in functions):
            raise InsightsConfigError(f"{where}.functions must be a non-empty list of job functions")
        seniority = persona.get("min_seniority")
        if seniority not in SENIORITY_LADDER:
            raise InsightsConfigError(
                f"{where}.min_seniority must be one of {', '.join(SENIORITY_LADDER)}, got {seniority!r}"
            )
        personas.append(Persona(str(name), tuple(functions), seniority))
    return tuple(personas)


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
    defaults = {f.name: f.default for f in dataclasses.fields(IntentConfig) if f.name != "product_lines"}
    numbers = {
        name: (levels if name in LEVEL_FIELDS else section).get(name, default)
        for name, default in defaults.items()
    }
    for field_name, value in numbers.items():
        where = f"intent.levels.{field_name}" if field_name in LEVEL_FIELDS else f"intent.{field_name}"
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
        **{name: type(defaults[name])(value) for name, value in numbers.items()},
    )
