"""goals.yaml: the shipped default, and every invalid configuration failing with the field named."""

from pathlib import Path

import pytest
import yaml

from b2b_scoring.lib.goals import GoalsError, default_goals_path, load_goals, parse_goals
from b2b_scoring.lib.settings import Settings, SettingsError

LEAD = {
    "name": "lead_conversion",
    "entity": "person",
    "conversion": {"event": "leadOperation.convertLead"},
    "prediction_window_days": 90,
}


def goal(**changes: object) -> dict:
    return {**LEAD, **changes}


def test_the_shipped_goals_are_a_lead_and_an_account_goal() -> None:
    goals = load_goals(default_goals_path())
    assert goals.names() == ["lead_conversion", "opportunity_contract"]
    account = goals.get("opportunity_contract")
    assert account.entity == "account" and account.prediction_window_days == 90
    assert account.conversion.describe() == "opportunityEvent.opportunityUpdated where Stage becomes Contract"
    assert goals.get("lead_conversion").algorithm == "lightgbm"


def test_settings_read_the_goals_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "goals.yaml"
    path.write_text(yaml.safe_dump({"goals": [goal(algorithm="logistic_regression")]}))
    settings = Settings.from_env({"B2B_SCORING_GOALS": str(path), "B2B_SCORING_ENV": "development"})
    assert settings.goals().get("lead_conversion").algorithm == "logistic_regression"
    with pytest.raises(SettingsError, match="B2B_SCORING_ENV='staging'"):
        Settings.from_env({"B2B_SCORING_ENV": "staging"})
    # Two goals are one too many in development.
    with pytest.raises(GoalsError, match=r"2 goals configured but the development environment allows 1"):
        Settings.from_env({"B2B_SCORING_ENV": "development"}).goals()


def test_a_flat_export_outcome_and_converted_statuses_are_goals() -> None:
    goals = parse_goals(
        {
            "goals": [
                goal(conversion={"event": "leadOperation.convertLead", "converted_status": "Qualified"}),
                goal(name="leads_csv", conversion={"flat_export": "x_education_leads"}),
            ]
        }
    )
    assert goals.goals[0].conversion.converted_status == ("Qualified",)
    assert goals.get("leads_csv").conversion.describe() == "outcome of flat export x_education_leads"


@pytest.mark.parametrize(
    ("goals", "message"),
    [
        ([goal(prediction_window_days=-5)], r"goals\[0\]\.prediction_window_days: .* got -5"),
        ([goal(prediction_window_days="90")], r"goals\[0\]\.prediction_window_days"),
        ([goal(), goal()], r"duplicate goal name\(s\) lead_conversion"),
        (
            [goal(conversion={"event": "web.formFilledOut"})],
            r"goals\[0\]\.conversion\.event: unknown conversion event 'web.formFilledOut'",
        ),
        ([goal(entity="contact")], r"goals\[0\]\.entity: expected one of person, account, got 'contact'"),
        ([goal(algorithm="xgboost")], r"goals\[0\]\.algorithm"),
        ([goal(name="Lead Score!")], r"goals\[0\]\.name"),
        ([goal(window=90)], r"goals\[0\]: unknown field\(s\) window"),
        (
            [goal(conversion={"event": "opportunityEvent.opportunityUpdated", "new_value": "Signed"})],
            r"new_value: 'Signed' is not a contract stage",
        ),
        ([goal(entity="account")], r"convertLead converts persons: use entity person"),
        (
            [goal(name=f"goal_{i}") for i in range(6)],
            r"6 goals configured but the production environment allows 5",
        ),
        ([], r"`goals` must be a non-empty list"),
        (
            [goal(feedback={"dispositions": "weights"})],
            r"goals\[0\]\.feedback\.dispositions: expected one of",
        ),
        (
            [goal(feedback={"positive_dispositions": ["won"]})],
            r"goals\[0\]\.feedback\.positive_dispositions: expected a list of accepted, rejected",
        ),
        (
            [goal(scoring={"exploration": {"share": 0.5}})],
            r"goals\[0\]\.scoring\.exploration\.share: expected a share from 0 to 0\.2, got 0\.5",
        ),
    ],
)
def test_invalid_goals_fail_at_load_naming_the_field(goals: list, message: str) -> None:
    with pytest.raises(GoalsError, match=message):
        parse_goals({"goals": goals}, origin="goals.yaml")


def test_feedback_and_exploration_are_configured_per_goal() -> None:
    lead = parse_goals({"goals": [goal()]}).get("lead_conversion")
    assert (lead.feedback.dispositions, lead.scoring.exploration_share) == ("features", 0.0)
    labelled = parse_goals(
        {"goals": [goal(feedback={"dispositions": "labels"}, scoring={"exploration": {"share": 0.05}})]}
    ).get("lead_conversion")
    assert labelled.feedback.positive_dispositions == ("accepted",)
    assert labelled.scoring.exploration_share == 0.05
    # Labels change what the goal predicts (a new fingerprint); features do not.
    assert labelled.fingerprint() != lead.fingerprint()
    assert (
        parse_goals({"goals": [goal(feedback={"dispositions": "features"})]})
        .get("lead_conversion")
        .fingerprint()
        == lead.fingerprint()
    )


def test_limits_are_configurable() -> None:
    six = [goal(name=f"goal_{i}") for i in range(6)]
    assert len(parse_goals({"goals": six, "limits": {"production": 6}}).goals) == 6
    with pytest.raises(GoalsError, match=r"limits\.production: expected a positive integer, got 0"):
        parse_goals({"goals": six, "limits": {"production": 0}})


def test_unreadable_goals_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(GoalsError, match="missing.yaml: cannot read"):
        load_goals(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("goals: [unclosed")
    with pytest.raises(GoalsError, match="broken.yaml: not valid YAML"):
        load_goals(broken)
