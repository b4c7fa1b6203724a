"""The raw data contract: the tables, columns and types every source must deliver.

Inspired by Adobe XDM (B2B person, account, experience event, opportunity), in snake_case.
Simulator output, landing files and the DuckDB `raw` schema all follow it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str
    required: bool = False


@dataclass(frozen=True)
class TableContract:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str
    time_column: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _col(name: str, duckdb_type: str = "VARCHAR", required: bool = False) -> Column:
    return Column(name, duckdb_type, required)


PERSONS = TableContract(
    name="persons",
    description="People known to marketing or sales (leads and contacts), one row per person_key.",
    key=("person_key",),
    columns=(
        _col("person_key", required=True),
        _col("created_at", "TIMESTAMP", required=True),
        _col("account_key"),
        _col("email"),
        _col("first_name"),
        _col("last_name"),
        _col("company_name"),
        _col("company_website"),
        _col("job_title"),
        _col("country"),
    ),
)

ACCOUNTS = TableContract(
    name="accounts",
    description="Companies in the CRM, one row per account_key, with firmographics.",
    key=("account_key",),
    columns=(
        _col("account_key", required=True),
        _col("created_at", "TIMESTAMP", required=True),
        _col("account_name"),
        _col("website"),
        _col("industry"),
        _col("number_of_employees", "BIGINT"),
        _col("annual_revenue", "DOUBLE"),
        _col("country"),
    ),
)

EXPERIENCE_EVENTS = TableContract(
    name="experience_events",
    description="Marketing and web activity of persons (page views, emails, forms, webinars, "
    "downloads, lead operations), one row per event_id.",
    key=("event_id",),
    time_column="timestamp",
    columns=(
        _col("event_id", required=True),
        _col("person_key", required=True),
        _col("timestamp", "TIMESTAMP", required=True),
        _col("event_type", required=True),
        _col("web_url"),
        _col("campaign"),
        _col("asset_name"),
        _col("converted_status"),
    ),
)

OPPORTUNITY_EVENTS = TableContract(
    name="opportunity_events",
    description="Opportunity field changes (stage history), one row per event_id.",
    key=("event_id",),
    time_column="timestamp",
    columns=(
        _col("event_id", required=True),
        _col("opportunity_key", required=True),
        _col("account_key", required=True),
        _col("timestamp", "TIMESTAMP", required=True),
        _col("attribute_name", required=True),
        _col("new_value", required=True),
        _col("old_value"),
        _col("person_key"),
        _col("amount", "DOUBLE"),
    ),
)

INTENT_SIGNALS = TableContract(
    name="intent_signals",
    description="Third-party intent: research activity of an account (by account_key or web "
    "domain) on a topic, per signal date.",
    key=("account_key", "domain", "topic", "signal_date", "provider"),
    time_column="signal_date",
    columns=(
        _col("account_key"),
        _col("domain"),
        _col("topic", required=True),
        _col("signal_date", "DATE", required=True),
        _col("intensity", "DOUBLE"),
        _col("provider"),
    ),
)

SALES_DISPOSITIONS = TableContract(
    name="sales_dispositions",
    description="What sales decided about a lead after contact (accepted, rejected, ...).",
    key=("person_key", "timestamp", "disposition"),
    time_column="timestamp",
    columns=(
        _col("person_key", required=True),
        _col("disposition", required=True),
        _col("timestamp", "TIMESTAMP", required=True),
        _col("reason"),
    ),
)

CONTRACTS: dict[str, TableContract] = {
    c.name: c
    for c in (PERSONS, ACCOUNTS, EXPERIENCE_EVENTS, OPPORTUNITY_EVENTS, INTENT_SIGNALS, SALES_DISPOSITIONS)
}

# Event types follow Adobe XDM experience event types where one exists.
PAGE_VIEW = "web.webpagedetails.pageViews"
EMAIL_SENT = "directMarketing.emailSent"
EMAIL_OPENED = "directMarketing.emailOpened"
EMAIL_CLICKED = "directMarketing.emailClicked"
FORM_FILLED = "web.formFilledOut"
WEBINAR_ATTENDED = "application.webinarAttended"
CONTENT_DOWNLOADED = "web.contentDownloaded"
NEW_LEAD = "leadOperation.newLead"
CONVERT_LEAD = "leadOperation.convertLead"

EVENT_TYPES: tuple[str, ...] = (
    PAGE_VIEW,
    EMAIL_SENT,
    EMAIL_OPENED,
    EMAIL_CLICKED,
    FORM_FILLED,
    WEBINAR_ATTENDED,
    CONTENT_DOWNLOADED,
    NEW_LEAD,
    CONVERT_LEAD,
)

OPPORTUNITY_STAGES: tuple[str, ...] = (
    "Prospecting",
    "Qualification",
    "Proposal",
    "Contract",
    "Closed Won",
    "Closed Lost",
)
STAGE_ATTRIBUTE = "Stage"

DISPOSITIONS: tuple[str, ...] = ("accepted", "rejected", "disqualified", "nurture")
