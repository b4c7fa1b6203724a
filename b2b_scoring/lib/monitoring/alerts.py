"""Alerts for sales: a record that enters tier A (from a lower tier, or new since the goal's
previous score date; not on its first one), a score that rises by at least `score_jump` points
day over day, and (accounts) intent that turns High for a product line.

Each alert has an id made of what it is about (kind, record, goal, day, product line), so it is
raised once: a rerun finds it in monitoring.alerts and raises nothing. New alerts are appended to
<data dir>/alerts/alerts.jsonl first, then recorded in the table; a webhook URL, when
configured, gets them as one JSON POST.
"""

from __future__ import annotations

import datetime
import json
import urllib.request
from pathlib import Path

import duckdb

from b2b_scoring.lib.goals import Entity
from b2b_scoring.lib.insights.intent import INTENT_TABLE
from b2b_scoring.lib.scoring.store import KEY_COLUMNS, SCORE_TABLES
from b2b_scoring.lib.sql import table_exists

ALERTS_TABLE = "monitoring.alerts"
ALERT_COLUMNS = (
    "alert_id",
    "kind",
    "entity",
    "record_key",
    "goal",
    "score_date",
    "score",
    "previous_score",
    "tier",
    "previous_tier",
    "detail",
)
WEBHOOK_TIMEOUT_SECONDS = 10


def _candidates_sql(entity: Entity, with_intent: bool) -> str:
    key = KEY_COLUMNS[entity]
    scores = f"""
        SELECT 'tier_a' AS kind, {key} AS record_key, goal, score_date, score, previous_score, tier,
               previous_tier, NULL AS product_line,
               CASE WHEN previous_tier IS NULL THEN format('new in tier A with score {{}}', score)
                    ELSE format('entered tier A from {{}} (score {{}} -> {{}})',
                                previous_tier, previous_score, score)
               END AS detail
        FROM {SCORE_TABLES[entity]}
        WHERE goal = $goal AND score_date = $day AND tier = 'A' AND previous_tier IS DISTINCT FROM 'A'
          -- on the goal's first score date everyone is new: no alert flood on day one
          AND (previous_tier IS NOT NULL
               OR EXISTS (SELECT 1 FROM {SCORE_TABLES[entity]} WHERE goal = $goal AND score_date < $day))
        UNION ALL
        SELECT 'score_jump', {key}, goal, score_date, score, previous_score, tier, previous_tier, NULL,
               format('score rose {{}} points ({{}} -> {{}})', score_change, previous_score, score)
        FROM {SCORE_TABLES[entity]}
        WHERE goal = $goal AND score_date = $day AND score_change >= $jump
    """
    if not with_intent:
        return scores
    return f"""{scores}
        UNION ALL
        SELECT 'intent_high', today.account_key, NULL, today.as_of_date, NULL, NULL, NULL, NULL,
               today.product_line,
               format('intent turned High for {{}} ({{}}), score {{}}', today.product_line,
                      array_to_string(today.top_topics, ', '), today.intent_score)
        FROM {INTENT_TABLE} AS today
        LEFT JOIN {INTENT_TABLE} AS before
          ON before.account_key = today.account_key AND before.product_line = today.product_line
         AND before.as_of_date = today.as_of_date - 1
        WHERE today.as_of_date = $day AND today.intent_level = 'High'
          AND before.intent_level IS DISTINCT FROM 'High'
    """


def new_alerts(
    con: duckdb.DuckDBPyConnection, entity: Entity, goal: str, score_date: datetime.date, score_jump: int
) -> list[dict[str, object]]:
    """The alerts of the goal and day (and, for accounts, intent turning High that day) that
    monitoring.alerts does not hold yet."""
    _ensure_table(con)
    candidates = _candidates_sql(entity, entity == "account" and table_exists(con, INTENT_TABLE))
    cursor = con.execute(
        f"""
        WITH candidates AS ({candidates})
        SELECT md5(concat_ws('|', kind, $entity, record_key, coalesce(goal, ''), score_date,
                             coalesce(product_line, ''))) AS alert_id,
               kind, $entity AS entity, record_key, goal, score_date, score, previous_score, tier,
               previous_tier, detail
        FROM candidates
        WHERE alert_id NOT IN (SELECT alert_id FROM {ALERTS_TABLE})
        ORDER BY kind, score DESC NULLS LAST, record_key
        """,
        {"goal": goal, "day": score_date, "jump": score_jump, "entity": entity},
    )
    return [dict(zip(ALERT_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def record_alerts(con: duckdb.DuckDBPyConnection, alerts: list[dict[str, object]], jsonl: Path) -> None:
    """Append the alerts to the JSON-lines file, then record them as raised."""
    if not alerts:
        return
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    raised_at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    with jsonl.open("a", encoding="utf-8") as file:
        for alert in alerts:
            file.write(json.dumps({**alert, "raised_at": raised_at.isoformat()}, default=str) + "\n")
    con.executemany(
        f"INSERT INTO {ALERTS_TABLE} ({', '.join(ALERT_COLUMNS)}, raised_at) "
        f"VALUES ({', '.join('?' * (len(ALERT_COLUMNS) + 1))})",
        [[alert[column] for column in ALERT_COLUMNS] + [raised_at] for alert in alerts],
    )


def post_to_webhook(url: str, alerts: list[dict[str, object]]) -> int:
    """POST the alerts as a JSON object {"alerts": [...]}; returns the HTTP status."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"alerts": alerts}, default=str).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
        return response.status


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {ALERTS_TABLE} (
            alert_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, entity VARCHAR NOT NULL,
            record_key VARCHAR NOT NULL, goal VARCHAR, score_date DATE NOT NULL, score SMALLINT,
            previous_score SMALLINT, tier VARCHAR, previous_tier VARCHAR, detail VARCHAR NOT NULL,
            raised_at TIMESTAMP NOT NULL
        )
        """
    )
