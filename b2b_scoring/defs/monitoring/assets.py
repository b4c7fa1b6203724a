"""Monitoring of the deployed scores, per entity with the scoring partitions (day x goal), run by
the scoring jobs after the day's scores:
- <entity>_score_drift: PSI of the scores and top features against the champion's training
  window (monitoring.drift); its blocking check holds back the CRM export (and the sales view)
  while the score PSI is 0.25 or more, until a person acknowledges it (`b2b-scoring
  acknowledge-drift`) or the goal is retrained;
- <entity>_realized_performance: AUC, lift, calibration, per-tier and per-segment outcomes of
  the score dates whose prediction window has passed;
- <entity>_alerts: tier A entries, score jumps and (accounts) intent turning High;
- <entity>_challenger: the challenger's shadow scores against the champion's on the same records
  once their window has passed, and its promotion when it wins (ml.model_promotions).
"""

import datetime
from collections import Counter

import dagster as dg
import numpy as np
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.scoring.assets import (
    champion_or_failure,
    drift_key,
    score_date_of,
    score_key,
    scoring_partitions,
)
from b2b_scoring.lib.goals import ENTITIES, Entity
from b2b_scoring.lib.ingestion.ingest import naive_utc
from b2b_scoring.lib.ml.registry import backtest_score, challenger, load_model, promote, retire_challenger
from b2b_scoring.lib.ml.reports import bar
from b2b_scoring.lib.monitoring.alerts import new_alerts, post_to_webhook, record_alerts
from b2b_scoring.lib.monitoring.challenger import (
    challenger_verdict,
    pair_comparison,
    write_challenger_performance,
)
from b2b_scoring.lib.monitoring.drift import (
    ERROR_PSI,
    SCORE_SUBJECT,
    WARN_PSI,
    acknowledged,
    drift_rows,
    reference_sample,
    reference_window,
    write_drift,
)
from b2b_scoring.lib.monitoring.performance import (
    REALIZED_AUC_DROP,
    REALIZED_TABLE,
    RECENT_DATES,
    SEGMENT_TABLE,
    exploration_summary,
    recent_realized_auc,
    tier_separation,
    write_realized_performance,
)
from b2b_scoring.lib.scoring.store import scoring_population
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import markdown_table

DRIFT_CHECK = "score_drift"


def realized_key(entity: Entity) -> dg.AssetKey:
    return dg.AssetKey(["monitoring", f"{entity}_realized_performance"])


def alerts_key(entity: Entity) -> dg.AssetKey:
    return dg.AssetKey(["monitoring", f"{entity}_alerts"])


def challenger_key(entity: Entity) -> dg.AssetKey:
    return dg.AssetKey(["monitoring", f"{entity}_challenger"])


def _drift_check(
    psi: float, acknowledgement: dict | None, features_in_error: list[str]
) -> dg.AssetCheckResult:
    if psi >= ERROR_PSI and acknowledgement is None:
        return dg.AssetCheckResult(
            check_name=DRIFT_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"score PSI {psi:.3f} >= {ERROR_PSI}: the CRM export is held back until someone runs "
            "`b2b-scoring acknowledge-drift --goal <goal> --by <name>` or the goal is retrained",
            metadata={"score_psi": psi},
        )
    warnings = []
    if psi >= WARN_PSI:
        warnings.append(f"score PSI {psi:.3f} >= {WARN_PSI}")
    if features_in_error:
        warnings.append(f"features with PSI >= {ERROR_PSI}: {', '.join(features_in_error)}")
    note = {} if acknowledgement is None else {"acknowledged_by": str(acknowledgement["by"])}
    return dg.AssetCheckResult(
        check_name=DRIFT_CHECK,
        passed=not warnings,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(warnings) or f"score PSI {psi:.3f} < {WARN_PSI}",
        metadata={"score_psi": psi, **note},
    )


def _entity_monitoring(settings: Settings, entity: Entity) -> list[dg.AssetsDefinition]:
    partitions = scoring_partitions(settings, entity)
    if partitions is None:
        return []
    goals = settings.goals()
    shared = {"partitions_def": partitions, "group_name": "monitoring", "pool": "duckdb"}

    @dg.asset(
        key=drift_key(entity),
        deps=[score_key(entity)],
        kinds={"duckdb", "lightgbm"},
        check_specs=[
            dg.AssetCheckSpec(
                DRIFT_CHECK,
                asset=drift_key(entity),
                blocking=True,
                description=f"Score PSI against the training window: WARN from {WARN_PSI}, ERROR (blocks "
                f"the CRM export) from {ERROR_PSI} unless acknowledged; features beyond {ERROR_PSI} warn.",
            )
        ],
        description=f"Population stability of the day's {entity} scores and top 10 features against the "
        "champion's training window (monitoring.drift).",
        **shared,
    )
    def score_drift(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        goal_name, score_date = score_date_of(context)
        goal = goals.get(goal_name)
        with duckdb.get_connection() as con:
            model = champion_or_failure(con, goal.name)
            window = reference_window(con, goal.name, model["version"])
            reference = reference_sample(con, goal, window)
            current = scoring_population(con, goal, score_date)
            rows = drift_rows(load_model(model["artifact_path"]), reference, current)
            write_drift(
                con,
                goal.name,
                score_date,
                model["version"],
                window,
                rows,
                (reference.num_rows, current.num_rows),
            )
            acknowledgement = acknowledged(con, goal.name, model["version"])
            history = con.execute(
                "SELECT score_date, psi FROM monitoring.drift WHERE goal = ? AND subject = ? "
                "ORDER BY score_date DESC LIMIT 30",
                [goal.name, SCORE_SUBJECT],
            ).fetchall()
        psi = rows[0].psi
        features_in_error = [r.subject for r in rows[1:] if r.level == "error"]
        return dg.MaterializeResult(
            metadata={
                "goal": goal.name,
                "score_date": str(score_date),
                "model_version": model["version"],
                "reference_window": f"{window[0]} .. {window[1]}",
                "reference_rows": reference.num_rows,
                "current_rows": current.num_rows,
                "score_psi": psi,
                "retrain_recommended": psi >= ERROR_PSI,
                "psi": dg.MetadataValue.md(
                    markdown_table(
                        ["subject", "importance rank", "PSI", "level", "plot (0..0.5)"],
                        [
                            [
                                r.subject,
                                r.importance_rank or "",
                                f"{r.psi:.4f}",
                                r.level,
                                f"`{bar(r.psi, 0.5)}`",
                            ]
                            for r in rows
                        ],
                    )
                ),
                "score_psi_over_time": dg.MetadataValue.md(
                    markdown_table(
                        ["score date", "PSI", "plot (0..0.5)"],
                        [[day, f"{value:.4f}", f"`{bar(value, 0.5)}`"] for day, value in history],
                    )
                ),
            },
            check_results=[_drift_check(psi, acknowledgement, features_in_error)],
        )

    @dg.asset(
        key=realized_key(entity),
        deps=[score_key(entity)],
        kinds={"duckdb"},
        description=f"Realized performance of the {entity} scores whose prediction window has passed: AUC, "
        f"lift, calibration over time (monitoring.realized_performance; retraining recommended when the "
        f"realized ROC-AUC of the last {RECENT_DATES} matured dates falls {REALIZED_AUC_DROP} or more below "
        "the backtest), per tier "
        "(monitoring.tier_performance) and per industry, size and country (monitoring.segment_calibration).",
        **shared,
    )
    def realized_performance(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        goal_name, _ = score_date_of(context)
        goal = goals.get(goal_name)
        with duckdb.get_connection() as con:
            model = champion_or_failure(con, goal.name)
            evaluated = write_realized_performance(con, goal)
            realized_auc = recent_realized_auc(con, goal.name, model["version"])
            series = con.execute(
                "SELECT score_date, scored, conversions, roc_auc, lift_at_10, calibration_error "
                f"FROM {REALIZED_TABLE} WHERE goal = ? ORDER BY score_date DESC LIMIT 30",
                [goal.name],
            ).fetchall()
            tiers, advice = tier_separation(con, goal.name) if series else ([], None)
            exploration = exploration_summary(con, goal.name)
            under_scored = con.execute(
                "SELECT dimension, segment, scored, conversions, predicted_rate, realized_rate "
                f"FROM {SEGMENT_TABLE} WHERE goal = ? AND under_scored "
                f"AND as_of_date = (SELECT max(as_of_date) FROM {SEGMENT_TABLE} WHERE goal = ?) "
                "ORDER BY realized_over_predicted DESC",
                [goal.name, goal.name],
            ).fetchall()
        if advice:
            context.log.warning(advice)
        backtest_auc = backtest_score(model["metrics"])
        decayed = realized_auc is not None and realized_auc <= backtest_auc - REALIZED_AUC_DROP
        return dg.MaterializeResult(
            metadata={
                "goal": goal.name,
                "model_version": model["version"],
                "backtest_roc_auc": round(backtest_auc, 4),
                "recent_realized_roc_auc": float("nan") if realized_auc is None else round(realized_auc, 4),
                "retrain_recommended": decayed,
                "score_dates_evaluated_now": len(evaluated),
                "latest_matured_score_date": str(series[0][0]) if series else "",
                "realized_auc_over_time": dg.MetadataValue.md(
                    markdown_table(
                        [
                            "score date",
                            "scored",
                            "conversions",
                            "ROC-AUC",
                            "plot (0.5..1)",
                            "lift@10%",
                            "cal. error",
                        ],
                        [
                            [
                                day,
                                scored,
                                conversions,
                                "" if auc is None else f"{auc:.3f}",
                                "" if auc is None else f"`{bar(auc - 0.5, 0.5)}`",
                                "" if lift is None else f"{lift:.2f}",
                                "" if error is None else f"{error:.4f}",
                            ]
                            for day, scored, conversions, auc, lift, error in series
                        ],
                    )
                ),
                "tiers_last_90_days": dg.MetadataValue.md(
                    markdown_table(
                        ["tier", "scored", "conversion rate"], [[t, n, f"{r:.4f}"] for t, n, r in tiers]
                    )
                ),
                "tier_recommendation": advice or "tiers separate",
                "exploration_slice": dg.MetadataValue.json(
                    {name: round(value, 4) for name, value in exploration.items()}
                    if exploration
                    else {"note": "no matured score date with an exploration slice yet"}
                ),
                "under_scored_segments": dg.MetadataValue.md(
                    markdown_table(
                        ["dimension", "segment", "scored", "conversions", "predicted rate", "realized rate"],
                        [[d, s, n, c, f"{p:.4f}", f"{r:.4f}"] for d, s, n, c, p, r in under_scored],
                    )
                ),
            }
        )

    @dg.asset(
        key=alerts_key(entity),
        deps=[score_key(entity)],
        kinds={"duckdb"},
        description=f"Alerts of the day's {entity} scores: entered tier A, rose by "
        f"{settings.alert_score_jump}+ points"
        + (", intent turned High" if entity == "account" else "")
        + "; each once, in monitoring.alerts and <data dir>/alerts/alerts.jsonl (and the webhook if set).",
        **shared,
    )
    def alerts(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        goal_name, score_date = score_date_of(context)
        with duckdb.get_connection() as con:
            raised = new_alerts(con, entity, goal_name, score_date, settings.alert_score_jump)
            record_alerts(con, raised, settings.alerts_file)
        webhook = "not configured"
        if settings.alert_webhook_url and raised:
            try:
                webhook = f"HTTP {post_to_webhook(settings.alert_webhook_url, raised)}"
            except OSError as error:
                webhook = f"failed: {error}"
                context.log.warning(f"alert webhook {settings.alert_webhook_url} {webhook}")
        kinds = Counter(str(alert["kind"]) for alert in raised)
        return dg.MaterializeResult(
            metadata={
                "new_alerts": len(raised),
                **{f"new_{kind}": count for kind, count in sorted(kinds.items())},
                "jsonl": dg.MetadataValue.path(str(settings.alerts_file)),
                "webhook": webhook,
                "first_alerts": dg.MetadataValue.md(
                    markdown_table(
                        ["kind", "record", "detail"],
                        [[a["kind"], a["record_key"], a["detail"]] for a in raised[:10]],
                    )
                ),
            }
        )

    @dg.asset(
        key=challenger_key(entity),
        deps=[score_key(entity)],
        kinds={"duckdb"},
        description=f"Champion against challenger on realized outcomes: the {entity} shadow scores of the "
        "goal's challenger and the champion's scores of the same records, per matured score date "
        "(monitoring.challenger_performance); the challenger is promoted when it wins (ml.model_promotions).",
        **shared,
    )
    def challenger_comparison(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        goal_name, _ = score_date_of(context)
        goal = goals.get(goal_name)
        with duckdb.get_connection() as con:
            compared = write_challenger_performance(con, goal)
            current, contender = champion_or_failure(con, goal.name), challenger(con, goal.name)
            if contender is None:
                return dg.MaterializeResult(
                    metadata={"goal": goal.name, "champion_version": current["version"], "challenger": "none"}
                )
            rows = pair_comparison(con, goal, current["version"], contender["version"])
            verdict = challenger_verdict(
                np.array([row[3] for row in rows], dtype=float),
                np.array([row[4] for row in rows], dtype=float),
                goal.challenger,
                contender["version"],
            )
            if verdict.promote:
                promote(
                    con,
                    goal.name,
                    contender["version"],
                    "shadow",
                    verdict.reason,
                    naive_utc(datetime.datetime.now(datetime.UTC)),
                )
            elif verdict.final:
                retire_challenger(con, goal.name, contender["version"], verdict.reason)
        context.log.info(verdict.reason)
        outcome = "promoted" if verdict.promote else "retired" if verdict.final else "in shadow"
        return dg.MaterializeResult(
            metadata={
                "goal": goal.name,
                "champion_version": contender["version"] if verdict.promote else current["version"],
                "challenger": f"v{contender['version']} ({contender['algorithm']}): {outcome}",
                "score_dates_compared_now": len(compared),
                "matured_dates_compared": verdict.matured_dates,
                "mean_auc_gain": verdict.mean_auc_gain if verdict.mean_auc_gain is not None else float("nan"),
                "promoted": verdict.promote,
                "verdict": verdict.reason,
                "realized_roc_auc": dg.MetadataValue.md(
                    markdown_table(
                        ["score date", "records", "conversions", "champion", "challenger", "gain"],
                        [
                            [day, n, c, f"{a:.4f}", f"{b:.4f}", f"{b - a:+.4f}"]
                            for day, n, c, a, b in rows[-30:]
                        ],
                    )
                ),
            }
        )

    return [score_drift, realized_performance, alerts, challenger_comparison]


def monitoring_keys(entity: Entity) -> list[dg.AssetKey]:
    return [drift_key(entity), realized_key(entity), alerts_key(entity), challenger_key(entity)]


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    return dg.Definitions(
        assets=[asset for entity in ENTITIES for asset in _entity_monitoring(settings, entity)]
    )
