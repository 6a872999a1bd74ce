"""The task types a scenario can have, and the column types each takes as features and target.

The gateway checks feature sets against these; the trainer refuses runs that break them (a run
may come from a command that skipped the gateway).
"""

from __future__ import annotations

TASK_TYPES = (
    "classification",
    "regression",
    "text_classification",
    "anomaly_detection",
    "forecasting",
    "recommendation",
)

# Column types a task can take as features, and as a target (None: no target needed).
FEATURE_TYPES: dict[str, frozenset[str]] = {
    "classification": frozenset({"numeric", "categorical", "boolean", "text", "datetime"}),
    "regression": frozenset({"numeric", "categorical", "boolean", "text", "datetime"}),
    "text_classification": frozenset({"text", "categorical", "numeric", "boolean"}),
    "anomaly_detection": frozenset({"numeric", "categorical", "boolean"}),
    "forecasting": frozenset({"datetime", "numeric", "categorical", "boolean"}),
    "recommendation": frozenset({"categorical", "numeric", "text"}),
}
TARGET_TYPES: dict[str, frozenset[str]] = {
    "classification": frozenset({"categorical", "boolean", "numeric"}),
    "regression": frozenset({"numeric"}),
    "text_classification": frozenset({"categorical", "boolean", "numeric"}),
    "anomaly_detection": frozenset({"boolean", "numeric", "categorical"}),
    "forecasting": frozenset({"numeric"}),
    "recommendation": frozenset({"numeric", "boolean", "categorical"}),
}
TARGET_OPTIONAL = frozenset({"anomaly_detection", "recommendation"})
