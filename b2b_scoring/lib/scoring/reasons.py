"""Influential factors: the features that raise a record's score most, grouped back to business
fields and phrased for a sales rep ("Visited the pricing page 3x in the last 7 days").

Contributions are the model's own (see `ml.explanations`): in log-odds for LightGBM and logistic
regression, so a factor's importance says how much it multiplies the odds of converting:
high when it at least doubles them, medium from +25%, low below. Random-forest contributions (in
probability) are first rescaled to log-odds, proportionally, so that they still sum exactly.

Phrasing runs once per distinct (feature, value) among the selected factors, not per record.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from b2b_scoring.lib.ml.goal_training import business_field
from b2b_scoring.lib.ml.models import FeatureEncoder

TOP_FACTORS = 3
TOP_CHANGE_DRIVERS = 2
HIGH_LOG_ODDS = math.log(2.0)
MEDIUM_LOG_ODDS = math.log(1.25)
MIN_CHANGE_LOG_ODDS = 0.05

WINDOWS = {
    "7d": "in the last 7 days",
    "30d": "in the last 30 days",
    "60d": "in the last 60 days",
    "90d": "in the last 90 days",
    "lifetime": "ever",
}
# Phrases by business field ({value}, {window}); fields not listed read "<field>: <value>".
PHRASES = {
    "pricing_visits": "Visited the pricing page {value}x {window}",
    "page_views": "Viewed {value} web pages {window}",
    "emails_opened": "Opened {value} emails {window}",
    "emails_clicked": "Clicked {value} emails {window}",
    "emails_sent": "Was sent {value} emails {window}",
    "forms_filled": "Filled in {value} forms {window}",
    "webinars_attended": "Attended {value} webinars {window}",
    "content_downloads": "Downloaded {value} content assets {window}",
    "demo_requests": "Requested a demo {value}x {window}",
    "contact_sales_requests": "Asked to talk to sales {value}x {window}",
    "product_docs_visits": "Read the product docs {value}x {window}",
    "engagement_events": "{value} engagement events {window}",
    "active_days": "Active on {value} days {window}",
    "email_open_rate": "Opened {value} of emails {window}",
    "email_click_rate": "Clicked {value} of emails {window}",
    "engaged_persons": "{value} people engaged {window}",
    "engaged_functions": "{value} job functions engaged {window}",
    "engaged_seniorities": "{value} seniority levels engaged {window}",
    "engaged_decision_makers": "{value} decision makers engaged {window}",
    "intent_topics": "Researching {value} intent topics {window}",
    "intent_max_intensity": "Third-party intent intensity {value}/100 {window}",
    "days_since_intent_signal": "Last intent signal {value} days ago",
    "prior_opportunities": "{value} earlier opportunities",
    "open_opportunities": "{value} open opportunities",
    "won_opportunities": "{value} won opportunities",
    "days_since_last_activity": "Last active {value} days ago",
    "research_events": "Researched the product {value}x {window}",
    "days_since_research": "Last researched the product {value} days ago",
    "days_since_high_intent": "Last high-intent action {value} days ago",
    "days_since_first_research": "Started researching the product {value} days ago",
    "engagement_score": "Engagement score {value}",
    "engagement_velocity": "Engagement trend {value}",
    "tenure_days": "Known for {value} days",
    "account_age_days": "Account known for {value} days",
    "job_function": "Job function: {value}",
    "job_seniority": "Seniority: {value}",
    "industry": "Industry: {value}",
    "country": "Country: {value}",
    "employee_band": "Company size: {value} employees",
    "revenue_band": "Company revenue: {value}",
    "number_of_employees": "{value} employees",
    "annual_revenue": "Annual revenue {value}",
    "has_work_email": "Work email address: {value}",
    "has_personal_email": "Personal email address: {value}",
}
RATE_FIELDS = ("email_open_rate", "email_click_rate")
FACTOR_TYPE = pa.struct(
    [
        ("code", pa.string()),
        ("value", pa.string()),
        ("importance", pa.string()),
        ("reason", pa.string()),
        ("log_odds", pa.float64()),
    ]
)
DRIVER_TYPE = pa.struct([("code", pa.string()), ("direction", pa.string()), ("log_odds", pa.float64())])


@dataclass(frozen=True)
class FieldGroups:
    """Business fields of an encoder's features (pricing_visits_7d/_30d/_90d -> pricing_visits)."""

    names: tuple[str, ...]
    field_of_feature: np.ndarray

    @classmethod
    def of(cls, encoder: FeatureEncoder) -> FieldGroups:
        fields = [business_field(name) for name in encoder.names]
        names = tuple(dict.fromkeys(fields))
        return cls(names, np.array([names.index(f) for f in fields]))

    def members(self) -> np.ndarray:
        """Feature indices of each field, padded with -1 (fields x most features in a field)."""
        counts = np.bincount(self.field_of_feature, minlength=len(self.names))
        padded = np.full((len(self.names), int(counts.max())), -1)
        for field in range(len(self.names)):
            found = np.flatnonzero(self.field_of_feature == field)
            padded[field, : len(found)] = found
        return padded

    def grouped(self, contributions: np.ndarray) -> np.ndarray:
        """Per row and field, the summed contribution of the field's features (base column dropped)."""
        membership = np.zeros((len(self.field_of_feature), len(self.names)))
        membership[np.arange(len(self.field_of_feature)), self.field_of_feature] = 1.0
        return contributions[:, : len(self.field_of_feature)] @ membership


def log_odds_contributions(contributions: np.ndarray, algorithm: str) -> np.ndarray:
    """Contributions in log-odds: unchanged for log-odds models; a forest's probability terms
    rescaled per row so they sum to logit(score) - logit(base)."""
    if algorithm != "random_forest":
        return contributions
    clip = lambda p: np.clip(p, 1e-6, 1 - 1e-6)  # noqa: E731
    base, score = clip(contributions[:, -1]), clip(contributions.sum(axis=1))
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    difference = score - base
    ratio = np.divide(
        logit(score) - logit(base), difference, out=np.ones_like(difference), where=difference != 0
    )
    scaled = contributions * ratio[:, None]
    scaled[:, -1] = logit(base)
    return scaled


def _importance(log_odds: np.ndarray) -> np.ndarray:
    return np.where(log_odds >= HIGH_LOG_ODDS, "high", np.where(log_odds >= MEDIUM_LOG_ODDS, "medium", "low"))


def _value_text(field: str, value: float, categories: tuple[str, ...] | None) -> str:
    if math.isnan(value):
        return "unknown"
    if categories is not None:
        return categories[int(value)] if 0 <= value < len(categories) else "other"
    if field in RATE_FIELDS:
        return f"{value:.0%}"
    if field.startswith("has_"):
        return "yes" if value else "no"
    return f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"


def phrase(feature: str, value: float, categories: tuple[str, ...] | None = None) -> tuple[str, str]:
    """(value text, reason) of one feature value."""
    field = business_field(feature)
    base = field.removeprefix("account_")
    window_key = feature[len(field) + 1 :] if feature != field else ""
    template = PHRASES.get(field) or PHRASES.get(base)
    text = _value_text(base, value, categories)
    if template is None:
        return text, f"{field.replace('_', ' ').capitalize()}: {text}"
    reason = template.format(value=text, window=WINDOWS.get(window_key, "")).strip()
    reason = re.sub(r"\s+", " ", reason)
    if field.startswith("account_") and field not in PHRASES:
        reason = f"Account: {reason[0].lower()}{reason[1:]}"
    return text, reason


def influential_factors(
    contributions: np.ndarray, matrix: np.ndarray, encoder: FeatureEncoder, top: int = TOP_FACTORS
) -> pa.ListArray:
    """Per row, its `top` positive fields by log-odds contribution, strongest first, each with the
    value of the field's strongest feature and a phrased reason."""
    groups = FieldGroups.of(encoder)
    grouped = groups.grouped(contributions)
    rows, fields = grouped.shape
    top = min(top, fields)
    chosen = (
        np.argpartition(-grouped, top - 1, axis=1)[:, :top]
        if top < fields
        else np.tile(np.arange(fields), (rows, 1))
    )
    strength = np.take_along_axis(grouped, chosen, axis=1)
    order = np.argsort(-strength, axis=1, kind="stable")
    chosen, strength = np.take_along_axis(chosen, order, axis=1), np.take_along_axis(strength, order, axis=1)
    # A contribution shown as 0.0 log-odds (tree ensembles leave tiny ones) is no reason.
    kept = np.round(strength, 4) > 0

    # The field's strongest feature gives the value shown (pricing_visits_7d rather than _90d).
    members = groups.members()
    row_index = np.repeat(np.arange(rows), top)[kept.ravel()]
    flat_field = chosen.ravel()[kept.ravel()]
    candidates = members[flat_field]
    strength_of = np.where(
        candidates >= 0, contributions[row_index[:, None], np.maximum(candidates, 0)], -np.inf
    )
    feature = candidates[np.arange(len(candidates)), np.argmax(strength_of, axis=1)]
    values = matrix[row_index, feature].astype(np.float64)

    # NaN never equals itself, so np.unique would keep every missing value apart: a sentinel.
    known = np.where(np.isnan(values), -np.inf, values)
    pairs, inverse = np.unique(np.stack([feature.astype(np.float64), known]), axis=1, return_inverse=True)
    pairs[1][np.isneginf(pairs[1])] = np.nan
    texts, reasons = [], []
    for feature_index, value in pairs.T:
        name = encoder.names[int(feature_index)]
        text, reason = phrase(name, float(value), encoder.categories.get(name))
        texts.append(text)
        reasons.append(reason)
    inverse = inverse.ravel()
    log_odds = strength.ravel()[kept.ravel()]
    items = pa.StructArray.from_arrays(
        [
            pa.array(np.array(groups.names, dtype=object)[flat_field], pa.string()),
            pa.array(np.array(texts, dtype=object)[inverse] if texts else [], pa.string()),
            pa.array(_importance(log_odds), pa.string()),
            pa.array(np.array(reasons, dtype=object)[inverse] if reasons else [], pa.string()),
            pa.array(np.round(log_odds, 4), pa.float64()),
        ],
        fields=list(FACTOR_TYPE),
    )
    offsets = np.concatenate([[0], np.cumsum(kept.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), items)


def change_drivers(
    today: np.ndarray,
    before: np.ndarray,
    has_before: np.ndarray,
    groups: FieldGroups,
    top: int = TOP_CHANGE_DRIVERS,
) -> pa.ListArray:
    """Per row, the fields whose contribution moved most since the previous score date (same model,
    previous features), at least MIN_CHANGE_LOG_ODDS; empty for records new today."""
    delta = groups.grouped(today) - groups.grouped(before)
    delta[~has_before] = 0.0
    top = min(top, delta.shape[1])
    size = np.abs(delta)
    chosen = (
        np.argpartition(-size, top - 1, axis=1)[:, :top] if top < size.shape[1] else np.argsort(-size, axis=1)
    )
    order = np.argsort(-np.take_along_axis(size, chosen, axis=1), axis=1, kind="stable")
    chosen = np.take_along_axis(chosen, order, axis=1)
    moved = np.take_along_axis(delta, chosen, axis=1)
    kept = np.abs(moved) >= MIN_CHANGE_LOG_ODDS
    flat = moved[kept]
    items = pa.StructArray.from_arrays(
        [
            pa.array(np.array(groups.names, dtype=object)[chosen[kept]], pa.string()),
            pa.array(np.where(flat > 0, "up", "down"), pa.string()),
            pa.array(np.round(flat, 4), pa.float64()),
        ],
        fields=list(DRIVER_TYPE),
    )
    offsets = np.concatenate([[0], np.cumsum(kept.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), items)


def no_change_drivers(rows: int) -> pa.ListArray:
    """An empty driver list for each of `rows` records."""
    return pa.ListArray.from_arrays(pa.array(np.zeros(rows + 1, dtype=np.int32)), pa.array([], DRIVER_TYPE))


ROLLUP_PHRASES = {
    "max": "Most likely person of the account: {value}",
    "noisy_or": "Chance that at least one person of the account converts: {value}",
    "top3_mean": "Mean of the account's three most likely persons: {value}",
}


def rollup_factors(rollups: dict[str, np.ndarray], source: str) -> pa.ListArray:
    """Factors of accounts scored by a roll-up of person scores: the roll-ups, the source first."""
    names = [source, *(name for name in ROLLUP_PHRASES if name != source and name in rollups)]
    rows = len(rollups[source])
    percent = np.clip(np.round(np.stack([rollups[name] for name in names], axis=1) * 100), 0, 100).astype(int)
    # Whole percents: every text is one of 101 per roll-up, formatted once.
    texts = np.array([f"{p}%" for p in range(101)], dtype=object)
    phrased = np.array(
        [[ROLLUP_PHRASES[name].format(value=t) for t in texts] for name in names], dtype=object
    )
    codes = np.tile(np.array([f"rollup_{name}" for name in names], dtype=object), rows)
    importance = np.tile(np.array(["high", *["low"] * (len(names) - 1)], dtype=object), rows)
    reasons = phrased[np.tile(np.arange(len(names)), rows), percent.ravel()]
    texts = texts[percent.ravel()]
    values = percent.ravel()
    items = pa.StructArray.from_arrays(
        [
            pa.array(codes, pa.string()),
            pa.array(texts, pa.string()),
            pa.array(importance, pa.string()),
            pa.array(reasons, pa.string()),
            pa.array(np.full(len(values), np.nan), pa.float64()),
        ],
        fields=list(FACTOR_TYPE),
    )
    offsets = np.arange(rows + 1, dtype=np.int32) * len(names)
    return pa.ListArray.from_arrays(pa.array(offsets), items)
