"""Lead-to-account matching (no Dagster inside): `match_persons` links known persons without an
account to their account with a confidence and the evidence that agreed."""

from b2b_scoring.lib.matching.matcher import MatchConfig, MatchingError, match_persons

__all__ = ["MatchConfig", "MatchingError", "match_persons"]
