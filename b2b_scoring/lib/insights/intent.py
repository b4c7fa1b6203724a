"""Account intent: who is in market now, for which product line, on which topics, and is it rising?

As of a date D (data strictly before D, as the features), per account and product line:
- third-party strength: the account's intent signals on the line's topics within the lookback,
  each intensity / 100, halved every half-life days of age;
- first-party strength: high-intent research by the account's persons on our own site (pricing,
  demo request, contact sales, product docs), each page or form times first_party_weight, decayed
  the same way;
- intent_score = 100 * (1 - exp(-(third + first) / scale)) (2 decimals, so reruns give the same
  rows whatever order the sums ran in), level None / Low / Medium / High by the
  configured cut-offs, the top 3 topics by strength ("first-party research" among them when it
  ranks), and the trend: weekly strength of the recent days against that of the rest of the
  lookback (rising above 1.25x, falling below 0.8x, steady between; none without signals).
"""

from __future__ import annotations

import datetime

import duckdb
import pyarrow as pa

from b2b_scoring.lib.insights.config import IntentConfig
from b2b_scoring.lib.sql import transaction

SCHEMA = "insights"
INTENT_TABLE = f"{SCHEMA}.account_intent"
LEVELS = ("None", "Low", "Medium", "High")
FIRST_PARTY_TOPIC = "first-party research"
RISING, FALLING = 1.25, 0.8
# The as-of dates $first .. $last of a run, one row each.
AS_OF_DATES = "SELECT unnest(generate_series($first::DATE, $last::DATE, INTERVAL 1 DAY))::DATE AS as_of_date"
HIGH_INTENT_VISITS = "(a.pricing_visits + a.demo_requests + a.contact_sales_requests + a.product_docs_visits)"


def write_account_intent(
    con: duckdb.DuckDBPyConnection,
    first_as_of: datetime.date,
    last_as_of: datetime.date,
    config: IntentConfig,
) -> dict[str, int]:
    """Replace insights.account_intent for the as-of dates first..last (inclusive) in one
    transaction; return the rows per level of the last date."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {INTENT_TABLE} (
            account_key VARCHAR NOT NULL,
            as_of_date DATE NOT NULL,
            product_line VARCHAR NOT NULL,
            intent_score DOUBLE NOT NULL,
            intent_level VARCHAR NOT NULL,
            top_topics VARCHAR[] NOT NULL,
            trend VARCHAR NOT NULL,
            third_party_strength DOUBLE NOT NULL,
            first_party_strength DOUBLE NOT NULL,
            PRIMARY KEY (account_key, as_of_date, product_line)
        )
        """
    )
    con.register(
        "_intent_topics",
        pa.table(
            {
                "product_line": [line for line, topics in config.product_lines.items() for _ in topics],
                "topic": [topic for topics in config.product_lines.values() for topic in topics],
            }
        ),
    )
    parameters = {
        "first": first_as_of,
        "last": last_as_of,
        "lookback": config.lookback_days,
        "recent": config.recent_days,
        "half_life": config.half_life_days,
        "first_party_weight": config.first_party_weight,
        "scale": config.scale,
        "high": config.high,
        "medium": config.medium,
        "low": config.low,
        "rising": RISING,
        "falling": FALLING,
        "first_party_topic": FIRST_PARTY_TOPIC,
    }
    with transaction(con):
        con.execute(
            f"DELETE FROM {INTENT_TABLE} WHERE as_of_date BETWEEN $first AND $last",
            {"first": first_as_of, "last": last_as_of},
        )
        con.execute(
            f"""
            INSERT INTO {INTENT_TABLE} BY NAME
            WITH dates AS (
                {AS_OF_DATES}
            ),
            topic_strength AS (
                SELECT d.as_of_date, s.account_key, t.product_line, s.topic,
                       sum(s.intensity / 100.0 * pow(0.5, (d.as_of_date - s.signal_date) / $half_life))
                           AS strength,
                       sum(s.intensity / 100.0) FILTER (WHERE d.as_of_date - s.signal_date <= $recent)
                           AS recent,
                       sum(s.intensity / 100.0) FILTER (WHERE d.as_of_date - s.signal_date > $recent) AS prior
                FROM dates AS d
                JOIN staging.int_account_intent_signals AS s
                  ON s.signal_date < d.as_of_date AND s.signal_date >= d.as_of_date - $lookback::INTEGER
                JOIN _intent_topics AS t ON t.topic = s.topic
                GROUP BY ALL
            ),
            research AS (
                SELECT d.as_of_date, p.account_key, {HIGH_INTENT_VISITS} AS visits,
                       d.as_of_date - a.event_date AS age
                FROM dates AS d
                JOIN staging.int_person_activity_days AS a
                  ON a.event_date < d.as_of_date AND a.event_date >= d.as_of_date - $lookback::INTEGER
                JOIN staging.stg_persons AS p ON p.person_key = a.person_key
                WHERE p.account_key IS NOT NULL
                  AND {HIGH_INTENT_VISITS} > 0
            ),
            first_party AS (
                SELECT r.as_of_date, r.account_key, t.product_line, $first_party_topic AS topic,
                       sum($first_party_weight * r.visits * pow(0.5, r.age / $half_life)) AS strength,
                       sum($first_party_weight * r.visits) FILTER (WHERE r.age <= $recent) AS recent,
                       sum($first_party_weight * r.visits) FILTER (WHERE r.age > $recent) AS prior
                FROM research AS r CROSS JOIN (SELECT DISTINCT product_line FROM _intent_topics) AS t
                GROUP BY ALL
            ),
            strengths AS (
                SELECT *, false AS first_party FROM topic_strength
                UNION ALL
                SELECT *, true AS first_party FROM first_party
            ),
            per_line AS (
                SELECT as_of_date, account_key, product_line,
                       coalesce(sum(strength) FILTER (WHERE NOT first_party), 0) AS third_party_strength,
                       coalesce(sum(strength) FILTER (WHERE first_party), 0) AS first_party_strength,
                       coalesce(sum(recent), 0) / $recent AS recent_daily,
                       coalesce(sum(prior), 0) / ($lookback - $recent) AS prior_daily,
                       list(topic ORDER BY strength DESC, topic)[1:3] AS top_topics
                FROM strengths
                GROUP BY ALL
            ),
            every_account AS (
                SELECT d.as_of_date, a.account_key, l.product_line
                FROM dates AS d
                CROSS JOIN staging.stg_accounts AS a
                CROSS JOIN (SELECT DISTINCT product_line FROM _intent_topics) AS l
            ),
            scored AS (
                SELECT e.*,
                       round(100 * (1 - exp(-(coalesce(p.third_party_strength, 0)
                                              + coalesce(p.first_party_strength, 0)) / $scale)), 2)
                           AS intent_score,
                       coalesce(p.top_topics, []::VARCHAR[]) AS top_topics,
                       coalesce(p.third_party_strength, 0) AS third_party_strength,
                       coalesce(p.first_party_strength, 0) AS first_party_strength,
                       p.recent_daily, p.prior_daily
                FROM every_account AS e
                LEFT JOIN per_line AS p USING (as_of_date, account_key, product_line)
            )
            SELECT account_key, as_of_date, product_line, intent_score,
                   CASE
                       WHEN intent_score >= $high THEN 'High'
                       WHEN intent_score >= $medium THEN 'Medium'
                       WHEN intent_score >= $low THEN 'Low'
                       ELSE 'None'
                   END AS intent_level,
                   top_topics,
                   CASE
                       WHEN coalesce(recent_daily, 0) = 0 AND coalesce(prior_daily, 0) = 0 THEN 'none'
                       WHEN recent_daily > $rising * prior_daily THEN 'rising'
                       WHEN recent_daily < $falling * prior_daily THEN 'falling'
                       ELSE 'steady'
                   END AS trend,
                   round(third_party_strength, 4) AS third_party_strength,
                   round(first_party_strength, 4) AS first_party_strength
            FROM scored
            """,
            parameters,
        )
    con.unregister("_intent_topics")
    levels = dict(
        con.execute(
            f"SELECT intent_level, count(*) FROM {INTENT_TABLE} WHERE as_of_date = $last GROUP BY ALL",
            {"last": last_as_of},
        ).fetchall()
    )
    return {level: int(levels.get(level, 0)) for level in LEVELS}
