"""Lead-to-account matching (no Dagster inside): `match_persons` links known persons without an
account to their account with a confidence and the evidence that agreed."""

from b2b_scoring.lib.matching.matcher import (
    EVIDENCE_FEATURES,
    PERSON_CLASSES,
    RELATIONSHIP_SOURCE,
    STATUSES,
    MatchConfig,
    MatcherModel,
    MatchingError,
    MatchRun,
    match_persons,
)

__all__ = [
    "EVIDENCE_FEATURES",
    "PERSON_CLASSES",
    "RELATIONSHIP_SOURCE",
    "STATUSES",
    "MatchConfig",
    "MatcherModel",
    "MatchRun",
    "MatchingError",
    "match_persons",
]
