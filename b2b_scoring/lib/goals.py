"""Scoring goals: what each model predicts, read from goals.yaml and validated at load.

A goal names the entity it scores (person or account), the conversion event that counts as a
success, the prediction window and the algorithm. Conversions are one of:

- `leadOperation.convertLead` (optionally only some `converted_status` values) for persons;
- `opportunityEvent.opportunityUpdated` with an `attribute_name` / `new_value` (Stage → Contract)
  for accounts (or for persons through the opportunity's contact role);
- the outcome column of a flat CRM export (declared in the mapping file's `flat_exports`).

How many goals may be active depends on the environment, as Adobe's sandboxes: 5 in production,
1 in development by default, both configurable in the file (`limits:`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from b2b_scoring.lib.contract import CONVERT_LEAD, DISPOSITIONS, OPPORTUNITY_STAGES, STAGE_ATTRIBUTE
from b2b_scoring.lib.yaml_files import read_yaml_file

Entity = Literal["person", "account"]
ENTITIES: tuple[Entity, ...] = ("person", "account")
Algorithm = Literal["lightgbm", "random_forest", "logistic_regression"]
ALGORITHMS: tuple[Algorithm, ...] = ("lightgbm", "random_forest", "logistic_regression")
ClassWeighting = Literal["auto", "none", "balanced"]
CLASS_WEIGHTING_OPTIONS: tuple[ClassWeighting, ...] = ("auto", "none", "balanced")
Environment = Literal["production", "development"]
ENVIRONMENTS: tuple[Environment, ...] = ("production", "development")
DEFAULT_LIMITS: dict[str, int] = {"production": 5, "development": 1}

OPPORTUNITY_UPDATED = "opportunityEvent.opportunityUpdated"
CONVERSION_EVENTS = (CONVERT_LEAD, OPPORTUNITY_UPDATED)
# Goal names become partition keys, file names and SQL string values: keep them plain.
GOAL_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_WINDOW_DAYS = 730


class GoalsError(ValueError):
    """goals.yaml is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Conversion:
    """What counts as a conversion: an experience event, an opportunity change or a flat-export
    outcome column (exactly one of them)."""

    event: str | None = None
    converted_status: tuple[str, ...] = ()
    attribute_name: str | None = None
    new_value: str | None = None
    flat_export: str | None = None

    def describe(self) -> str:
        if self.flat_export is not None:
            return f"outcome of flat export {self.flat_export}"
        if self.event == CONVERT_LEAD:
            statuses = (
                f" with converted_status in {list(self.converted_status)}" if self.converted_status else ""
            )
            return f"{CONVERT_LEAD}{statuses}"
        return f"{OPPORTUNITY_UPDATED} where {self.attribute_name} becomes {self.new_value}"


@dataclass(frozen=True)
class PointsRule:
    """`points` when `feature` is at least `at_least`, or is one of `one_of`."""

    feature: str
    points: float
    at_least: float | None = None
    one_of: tuple[str, ...] = ()

    def describe(self) -> str:
        condition = f">= {self.at_least:g}" if self.at_least is not None else f"in {list(self.one_of)}"
        return f"{self.feature} {condition}: {self.points:+g}"


@dataclass(frozen=True)
class ScoringPolicy:
    """How probabilities become tiers and queues: tier A from `a_min_score` (or, with
    `a_capacity`, the a_capacity most likely records of the day: sales reps x leads per rep per
    week), tier B from `b_min_score`, C below; each tier routed to a queue."""

    a_min_score: int = 70
    b_min_score: int = 40
    a_capacity: int | None = None
    routes: tuple[tuple[str, str], ...] = (
        ("A", "Senior AE - call within 1 hour"),
        ("B", "SDR queue"),
        ("C", "Nurture"),
    )
    # A fixed random share of the records, routed to `exploration_route` while in tier C, so that
    # sales also work (and label) some low scores.
    exploration_share: float = 0.0
    exploration_route: str = "SDR queue - exploration"


DispositionUse = Literal["features", "labels", "none"]
DISPOSITION_USES: tuple[DispositionUse, ...] = ("features", "labels", "none")


@dataclass(frozen=True)
class Feedback:
    """How sales dispositions feed back into a goal: as `features` (the last disposition before
    the as-of date, days since, counts of dispositions and of rejections), as `labels` (a
    disposition in `positive_dispositions` counts as a conversion), or not at all."""

    dispositions: DispositionUse = "features"
    positive_dispositions: tuple[str, ...] = ("accepted",)


@dataclass(frozen=True)
class ChallengerPolicy:
    """Champion/challenger: a model that did not beat the champion's backtest (a retrain, or one
    trained with `algorithm` alongside the goal's own) scores in shadow; it is promoted once its
    realized ROC-AUC beats the champion's on the same records by `min_auc_gain` on average over
    at least `min_matured_dates` score dates whose prediction window has passed, and on at least
    two thirds of them."""

    algorithm: Algorithm | None = None
    min_matured_dates: int = 7
    min_auc_gain: float = 0.005


@dataclass(frozen=True)
class Goal:
    name: str
    entity: Entity
    conversion: Conversion
    prediction_window_days: int
    algorithm: Algorithm = "lightgbm"
    description: str = ""
    class_weighting: ClassWeighting = "auto"
    known_after_contact: tuple[str, ...] = ()
    baseline_points: tuple[PointsRule, ...] = ()
    scoring: ScoringPolicy = field(default_factory=ScoringPolicy)
    challenger: ChallengerPolicy = field(default_factory=ChallengerPolicy)
    feedback: Feedback = field(default_factory=Feedback)

    def fingerprint(self) -> str:
        """Changes whenever what the goal predicts or how it is trained changes."""
        definition: tuple = (
            self.entity,
            self.conversion,
            self.prediction_window_days,
            self.algorithm,
            self.known_after_contact,
        )
        # Dispositions as labels change what is predicted; as features they change only the inputs.
        if self.feedback.dispositions == "labels":
            definition += (self.feedback,)
        return hashlib.sha256(repr(definition).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class GoalSet:
    goals: tuple[Goal, ...]
    limits: dict[str, int]
    origin: str

    def names(self) -> list[str]:
        return [goal.name for goal in self.goals]

    def dated_goals(self) -> list[Goal]:
        """Goals whose conversions have dates (not a flat export's outcome column): the ones the
        pipeline trains on weekly snapshots and scores from daily features. A flat export's goal
        is evaluated with `b2b-scoring backtest` (no dates, no daily features to score)."""
        return [g for g in self.goals if g.conversion.flat_export is None]

    def dated_person_goals(self) -> list[Goal]:
        return [g for g in self.dated_goals() if g.entity == "person"]

    def rollup_person_goal(self) -> Goal | None:
        """The person goal whose scores roll up into account scores: the first person goal with
        dated conversions."""
        return next(iter(self.dated_person_goals()), None)

    def get(self, name: str) -> Goal:
        for goal in self.goals:
            if goal.name == name:
                return goal
        raise KeyError(f"no goal {name!r} in {self.origin}; goals: {', '.join(self.names())}")


def default_goals_path() -> Path:
    """The goals.yaml shipped with the package (a lead goal and an account goal)."""
    return Path(str(resources.files("b2b_scoring").joinpath("goals.yaml")))


def load_goals(path: Path, environment: Environment = "production") -> GoalSet:
    document = read_yaml_file(path, GoalsError, "goals file")
    return parse_goals(document, environment, origin=str(path))


def parse_goals(document: Any, environment: Environment = "production", origin: str = "goals") -> GoalSet:
    if environment not in ENVIRONMENTS:
        raise GoalsError(
            f"{origin}: unknown environment {environment!r}; use one of {', '.join(ENVIRONMENTS)}"
        )
    if not isinstance(document, dict):
        raise GoalsError(f"{origin}: expected a mapping with a `goals:` list")
    _only_keys(origin, document, {"goals", "limits"}, "top level")
    limits = {**DEFAULT_LIMITS, **_limits(origin, document.get("limits", {}))}
    entries = document.get("goals")
    if not isinstance(entries, list) or not entries:
        raise GoalsError(f"{origin}: `goals` must be a non-empty list")
    goals = tuple(_goal(origin, entry, f"goals[{i}]") for i, entry in enumerate(entries))
    names = [goal.name for goal in goals]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise GoalsError(f"{origin}: goals[].name: duplicate goal name(s) {', '.join(duplicates)}")
    if len(goals) > limits[environment]:
        raise GoalsError(
            f"{origin}: {len(goals)} goals configured but the {environment} environment allows "
            f"{limits[environment]} (limits.{environment}); remove goals or raise the limit"
        )
    return GoalSet(goals=goals, limits=limits, origin=origin)


def _limits(origin: str, value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise GoalsError(f"{origin}: limits: expected a mapping like {{production: 5, development: 1}}")
    _only_keys(origin, value, set(ENVIRONMENTS), "limits")
    for name, limit in value.items():
        if not _whole_number(limit) or limit < 1:
            raise GoalsError(f"{origin}: limits.{name}: expected a positive integer, got {limit!r}")
    return dict(value)


def _goal(origin: str, entry: Any, at: str) -> Goal:
    if not isinstance(entry, dict):
        raise GoalsError(f"{origin}: {at}: expected a mapping")
    _only_keys(
        origin,
        entry,
        {
            "name",
            "entity",
            "conversion",
            "prediction_window_days",
            "algorithm",
            "description",
            "class_weighting",
            "known_after_contact",
            "baseline_points",
            "scoring",
            "challenger",
            "feedback",
        },
        at,
    )
    name = entry.get("name")
    if not isinstance(name, str) or not GOAL_NAME.fullmatch(name):
        raise GoalsError(
            f"{origin}: {at}.name: expected lower-case letters, digits and _ starting with a letter, "
            f"got {name!r}"
        )
    entity = entry.get("entity")
    if entity not in ENTITIES:
        raise GoalsError(f"{origin}: {at}.entity: expected one of {', '.join(ENTITIES)}, got {entity!r}")
    window = entry.get("prediction_window_days")
    if not _whole_number(window) or not 1 <= window <= MAX_WINDOW_DAYS:
        raise GoalsError(
            f"{origin}: {at}.prediction_window_days: expected a whole number of days from 1 to "
            f"{MAX_WINDOW_DAYS}, got {window!r}"
        )
    algorithm = entry.get("algorithm", "lightgbm")
    if algorithm not in ALGORITHMS:
        raise GoalsError(
            f"{origin}: {at}.algorithm: expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}"
        )
    conversion = _conversion(origin, entry.get("conversion"), f"{at}.conversion", entity)
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise GoalsError(f"{origin}: {at}.description: expected text")
    class_weighting = entry.get("class_weighting", "auto")
    if class_weighting not in CLASS_WEIGHTING_OPTIONS:
        raise GoalsError(
            f"{origin}: {at}.class_weighting: expected one of {', '.join(CLASS_WEIGHTING_OPTIONS)}, "
            f"got {class_weighting!r}"
        )
    after_contact = entry.get("known_after_contact", [])
    if not isinstance(after_contact, list) or not all(isinstance(c, str) and c for c in after_contact):
        raise GoalsError(f"{origin}: {at}.known_after_contact: expected a list of feature names")
    points = entry.get("baseline_points", [])
    if not isinstance(points, list):
        raise GoalsError(f"{origin}: {at}.baseline_points: expected a list of rules")
    try:
        rules = parse_points_rules(points, f"{at}.baseline_points")
    except ValueError as error:
        raise GoalsError(f"{origin}: {error}") from None
    return Goal(
        name,
        entity,
        conversion,
        window,
        algorithm,
        description,
        class_weighting,
        tuple(after_contact),
        rules,
        _scoring_policy(origin, entry.get("scoring", {}), f"{at}.scoring"),
        _challenger_policy(origin, entry.get("challenger", {}), f"{at}.challenger", algorithm),
        _feedback(origin, entry.get("feedback", {}), f"{at}.feedback", entity),
    )


def _feedback(origin: str, spec: Any, at: str, entity: str) -> Feedback:
    if not isinstance(spec, dict):
        raise GoalsError(f"{origin}: {at}: expected a mapping (dispositions, positive_dispositions)")
    _only_keys(origin, spec, {"dispositions", "positive_dispositions"}, at)
    default = Feedback()
    use = spec.get("dispositions", default.dispositions)
    if use not in DISPOSITION_USES:
        raise GoalsError(
            f"{origin}: {at}.dispositions: expected one of {', '.join(DISPOSITION_USES)}, got {use!r}"
        )
    if use == "labels" and entity != "person":
        raise GoalsError(
            f"{origin}: {at}.dispositions: labels are dispositions of persons; this goal scores {entity}s"
        )
    positive = spec.get("positive_dispositions", list(default.positive_dispositions))
    if not isinstance(positive, list) or not positive or any(value not in DISPOSITIONS for value in positive):
        raise GoalsError(
            f"{origin}: {at}.positive_dispositions: expected a list of {', '.join(DISPOSITIONS)}, "
            f"got {positive!r}"
        )
    return Feedback(use, tuple(positive))


def _challenger_policy(origin: str, spec: Any, at: str, goal_algorithm: str) -> ChallengerPolicy:
    if not isinstance(spec, dict):
        raise GoalsError(f"{origin}: {at}: expected a mapping (algorithm, min_matured_dates, min_auc_gain)")
    _only_keys(origin, spec, {"algorithm", "min_matured_dates", "min_auc_gain"}, at)
    default = ChallengerPolicy()
    algorithm = spec.get("algorithm")
    if algorithm is not None and (algorithm not in ALGORITHMS or algorithm == goal_algorithm):
        raise GoalsError(
            f"{origin}: {at}.algorithm: expected one of {', '.join(ALGORITHMS)} other than the goal's "
            f"own {goal_algorithm}, got {algorithm!r}"
        )
    dates = spec.get("min_matured_dates", default.min_matured_dates)
    if not _whole_number(dates) or dates < 1:
        raise GoalsError(f"{origin}: {at}.min_matured_dates: expected a positive whole number, got {dates!r}")
    gain = spec.get("min_auc_gain", default.min_auc_gain)
    if not _number(gain) or not 0 <= gain < 0.5:
        raise GoalsError(
            f"{origin}: {at}.min_auc_gain: expected a number from 0 up to (not including) 0.5, got {gain!r}"
        )
    return ChallengerPolicy(algorithm, dates, float(gain))


def _scoring_policy(origin: str, spec: Any, at: str) -> ScoringPolicy:
    if not isinstance(spec, dict):
        raise GoalsError(f"{origin}: {at}: expected a mapping (tiers, tier_a_capacity, routing, exploration)")
    _only_keys(origin, spec, {"tiers", "tier_a_capacity", "routing", "exploration"}, at)
    default = ScoringPolicy()
    tiers = spec.get("tiers", {})
    if not isinstance(tiers, dict):
        raise GoalsError(f"{origin}: {at}.tiers: expected minimum scores like {{A: 70, B: 40}}")
    _only_keys(origin, tiers, {"A", "B"}, f"{at}.tiers")
    cutoffs = {}
    for tier, fallback in (("A", default.a_min_score), ("B", default.b_min_score)):
        value = tiers.get(tier, fallback)
        if not _whole_number(value) or not 0 <= value <= 100:
            raise GoalsError(f"{origin}: {at}.tiers.{tier}: expected a score from 0 to 100, got {value!r}")
        cutoffs[tier] = value
    if cutoffs["B"] > cutoffs["A"]:
        raise GoalsError(f"{origin}: {at}.tiers: B ({cutoffs['B']}) must not be above A ({cutoffs['A']})")
    capacity = None
    if "tier_a_capacity" in spec:
        sizing = spec["tier_a_capacity"]
        if not isinstance(sizing, dict):
            raise GoalsError(
                f"{origin}: {at}.tier_a_capacity: expected {{sales_reps: N, leads_per_rep_per_week: M}}"
            )
        _only_keys(origin, sizing, {"sales_reps", "leads_per_rep_per_week"}, f"{at}.tier_a_capacity")
        for name in ("sales_reps", "leads_per_rep_per_week"):
            value = sizing.get(name)
            if not _whole_number(value) or value < 1:
                raise GoalsError(
                    f"{origin}: {at}.tier_a_capacity.{name}: expected a positive whole number, got {value!r}"
                )
        capacity = sizing["sales_reps"] * sizing["leads_per_rep_per_week"]
    routing = spec.get("routing", {})
    if not isinstance(routing, dict) or not all(isinstance(v, str) and v for v in routing.values()):
        raise GoalsError(f"{origin}: {at}.routing: expected a queue name per tier, like {{A: Senior AE}}")
    _only_keys(origin, routing, {"A", "B", "C"}, f"{at}.routing")
    routes = tuple({**dict(default.routes), **routing}.items())
    exploration = spec.get("exploration", {})
    if not isinstance(exploration, dict):
        raise GoalsError(f"{origin}: {at}.exploration: expected {{share: 0.02, routing: QUEUE}}")
    _only_keys(origin, exploration, {"share", "routing"}, f"{at}.exploration")
    share = exploration.get("share", default.exploration_share)
    if not _number(share) or not 0 <= share <= 0.2:
        raise GoalsError(f"{origin}: {at}.exploration.share: expected a share from 0 to 0.2, got {share!r}")
    route = exploration.get("routing", default.exploration_route)
    if not isinstance(route, str) or not route:
        raise GoalsError(f"{origin}: {at}.exploration.routing: expected a queue name")
    return ScoringPolicy(cutoffs["A"], cutoffs["B"], capacity, routes, float(share), route)


def parse_points_rules(entries: Sequence[Mapping[str, Any]], where: str) -> tuple[PointsRule, ...]:
    """Rules from config: {feature, points, at_least | one_of}; errors name the entry."""
    rules = []
    for i, entry in enumerate(entries):
        place = f"{where}[{i}]"
        if not isinstance(entry, Mapping) or "feature" not in entry or "points" not in entry:
            raise ValueError(f"{place}: a rule needs `feature` and `points`")
        has_threshold, has_values = "at_least" in entry, "one_of" in entry
        if has_threshold == has_values:
            raise ValueError(f"{place}: give exactly one of `at_least` or `one_of`")
        one_of = entry.get("one_of") or ()
        if has_values and (isinstance(one_of, str) or not isinstance(one_of, Sequence)):
            raise ValueError(f"{place}.one_of: expected a list of values")
        try:
            points = float(entry["points"])
            at_least = float(entry["at_least"]) if has_threshold else None
        except (TypeError, ValueError):
            raise ValueError(f"{place}: `points` and `at_least` must be numbers") from None
        rules.append(
            PointsRule(
                feature=str(entry["feature"]),
                points=points,
                at_least=at_least,
                one_of=tuple(str(v) for v in one_of),
            )
        )
    return tuple(rules)


def _conversion(origin: str, spec: Any, at: str, entity: str) -> Conversion:
    if not isinstance(spec, dict):
        raise GoalsError(f"{origin}: {at}: expected a mapping with `event` or `flat_export`")
    if "flat_export" in spec:
        _only_keys(origin, spec, {"flat_export"}, at)
        export = spec["flat_export"]
        if not isinstance(export, str) or not export:
            raise GoalsError(
                f"{origin}: {at}.flat_export: expected the name of a flat export in the mapping file"
            )
        if entity != "person":
            raise GoalsError(
                f"{origin}: {at}.flat_export: a flat export has one row per lead: use entity person"
            )
        return Conversion(flat_export=export)
    event = spec.get("event")
    if event == CONVERT_LEAD:
        _only_keys(origin, spec, {"event", "converted_status"}, at)
        statuses = spec.get("converted_status", [])
        statuses = [statuses] if isinstance(statuses, str) else statuses
        if not isinstance(statuses, list) or not all(isinstance(s, str) and s for s in statuses):
            raise GoalsError(f"{origin}: {at}.converted_status: expected a status or a list of statuses")
        if entity != "person":
            raise GoalsError(f"{origin}: {at}.event: {CONVERT_LEAD} converts persons: use entity person")
        return Conversion(event=event, converted_status=tuple(statuses))
    if event == OPPORTUNITY_UPDATED:
        _only_keys(origin, spec, {"event", "attribute_name", "new_value"}, at)
        attribute = spec.get("attribute_name", STAGE_ATTRIBUTE)
        new_value = spec.get("new_value")
        if not isinstance(attribute, str) or not attribute:
            raise GoalsError(
                f"{origin}: {at}.attribute_name: expected an opportunity attribute such as Stage"
            )
        if not isinstance(new_value, str) or not new_value:
            raise GoalsError(f"{origin}: {at}.new_value: expected the value that counts, such as Contract")
        if attribute == STAGE_ATTRIBUTE and new_value not in OPPORTUNITY_STAGES:
            raise GoalsError(
                f"{origin}: {at}.new_value: {new_value!r} is not a contract stage; "
                f"use one of {', '.join(OPPORTUNITY_STAGES)}"
            )
        return Conversion(event=event, attribute_name=attribute, new_value=new_value)
    raise GoalsError(
        f"{origin}: {at}.event: unknown conversion event {event!r}; use one of "
        f"{', '.join(CONVERSION_EVENTS)}, or `flat_export: NAME`"
    )


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # YAML's true is an int in Python


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _only_keys(origin: str, spec: dict, allowed: set[str], at: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise GoalsError(
            f"{origin}: {at}: unknown field(s) {', '.join(map(str, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
