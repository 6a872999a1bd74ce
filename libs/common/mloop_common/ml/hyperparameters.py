"""The hyperparameters of every algorithm: accepted ranges, defaults and what `auto` searches."""

from __future__ import annotations

from typing import Any

from .parameters import Param


def integer(
    name: str, default: Any, low: float, high: float, text: str, search: Any = None, **extra: Any
) -> Param:
    return Param(name, "integer", default, text, low, high, search=search, **extra)


def number(
    name: str, default: Any, low: float, high: float, text: str, search: Any = None, **extra: Any
) -> Param:
    return Param(name, "number", default, text, low, high, search=search, **extra)


def n_estimators(search: tuple[int, int]) -> Param:
    return integer("n_estimators", 100, 1, 10_000, "Number of trees.", search, log=True)


LEARNING_RATE = number(
    "learning_rate", 0.1, 1e-4, 1.0, "Shrinkage of each tree.", (0.01, 0.3), log=True,
    aliases=("eta",),
)  # fmt: skip

LIGHTGBM = (
    n_estimators((50, 500)),
    LEARNING_RATE,
    integer("num_leaves", 31, 2, 4096, "Maximum leaves per tree.", (8, 128), log=True),
    integer("max_depth", -1, -1, 64, "Maximum tree depth; -1 for no limit.", (3, 12)),
    integer(
        "min_child_samples", 20, 1, 100_000, "Minimum rows in a leaf.", (5, 100), log=True,
        aliases=("minDataInLeaf",),
    ),
    number(
        "subsample", 1.0, 0.05, 1.0, "Share of rows sampled for each tree.", (0.5, 1.0),
        aliases=("baggingFraction",),
    ),
    number(
        "colsample_bytree", 1.0, 0.05, 1.0, "Share of features sampled for each tree.",
        (0.5, 1.0), aliases=("featureFraction",),
    ),
    number("reg_alpha", 0.0, 0.0, 1000.0, "L1 regularisation.", (1e-8, 10.0), log=True),
    number("reg_lambda", 0.0, 0.0, 1000.0, "L2 regularisation.", (1e-8, 10.0), log=True),
)  # fmt: skip


def random_forest(max_features: str) -> tuple[Param, ...]:
    return (
        n_estimators((50, 400)),
        integer(
            "max_depth", None, 1, 200, "Maximum tree depth; null for no limit.", (3, 30),
            nullable=True,
        ),
        integer("min_samples_leaf", 1, 1, 100_000, "Minimum rows in a leaf.", (1, 20), log=True),
        Param(
            "max_features", "string", max_features,
            "Features considered at each split: sqrt, log2 or all of them.",
            choices=("sqrt", "log2", "all"), search=("sqrt", "log2", "all"),
        ),
    )  # fmt: skip


HIST_GRADIENT_BOOSTING = (
    integer("max_iter", 100, 1, 10_000, "Boosting iterations.", (50, 500), log=True),
    LEARNING_RATE,
    integer("max_leaf_nodes", 31, 2, 4096, "Maximum leaves per tree.", (8, 128), log=True),
    integer(
        "max_depth", None, 1, 64, "Maximum tree depth; null for no limit.", (3, 12),
        nullable=True,
    ),
    number("l2_regularization", 0.0, 0.0, 1000.0, "L2 regularisation.", (1e-8, 10.0), log=True),
)  # fmt: skip

C = number("C", 1.0, 1e-6, 1e6, "Inverse regularisation strength.", (1e-3, 100.0), log=True)
MAX_ITER = integer("max_iter", 1000, 1, 100_000, "Maximum solver iterations.")
LOGISTIC_REGRESSION = (C, MAX_ITER)
RIDGE = (number("alpha", 1.0, 0.0, 1e6, "L2 regularisation.", (1e-4, 1000.0), log=True),)

TEXT = (
    integer(
        "max_features", 20_000, 1, 1_000_000, "Vocabulary kept per text column.", (1000, 50_000),
        log=True,
    ),
    integer("ngram_max", 2, 1, 3, "Longest word n-gram (1: single words).", (1, 2)),
    integer("min_df", 1, 1, 10_000, "Rows a term must appear in to be kept.", (1, 5)),
    C,
    MAX_ITER,
)  # fmt: skip

FORECASTING = (
    integer("horizon", 7, 1, 1000, "Steps forecast after the time given."),
    integer(
        "lags", 14, 1, 1000, "Past values used: n for the last n steps, or a list of lags.",
        (3, 28), many=True,
    ),
    integer(
        "windows", (7, 28), 2, 1000, "Rolling-mean windows over past values, in steps.",
        many=True,
    ),
    Param(
        "differencing", "boolean", False,
        "Learn the change from one step to the next rather than the level, so that forecasts "
        "can follow a trend beyond the values seen; a series without history then gets none.",
        search=(False, True),
    ),
    *LIGHTGBM,
)  # fmt: skip

MATRIX_FACTORIZATION = (
    integer("factors", 32, 1, 512, "Latent factors per user and item.", (8, 128), log=True),
    number("regularization", 0.1, 0.0, 1e4, "L2 regularisation.", (1e-3, 10.0), log=True),
    integer("iterations", 15, 1, 200, "Alternating least-squares sweeps.", (5, 30)),
    number(
        "alpha", 10.0, 0.0, 1e4, "Confidence added per unit of rating.", (1.0, 100.0), log=True
    ),
    integer("k", 10, 1, 1000, "Items recommended per user.", aliases=("topK",)),
    Param("user_column", "string", None, "User column; null: the first feature.", nullable=True),
    Param("item_column", "string", None, "Item column; null: the second feature.", nullable=True),
)  # fmt: skip

ISOLATION_FOREST = (
    n_estimators((50, 300)),
    number(
        "contamination", 0.05, 0.001, 0.5,
        "Expected share of anomalies, which sets the flagging threshold; null for the "
        "isolation forest paper's threshold (anomaly score above 0.5).", nullable=True,
    ),
    integer(
        "max_samples", 256, 2, 10_000_000,
        "Rows sampled to grow each tree (capped at the rows available).", (32, 1024), log=True,
    ),
)  # fmt: skip


def auto(algorithms: tuple[str, ...], fixed: tuple[Param, ...]) -> tuple[Param, ...]:
    return (
        number("time_budget", 60.0, 1.0, 86_400.0, "Seconds the search may take."),
        integer("max_trials", 30, 1, 10_000, "Most trials the search runs."),
        Param(
            "algorithms", "string", None, "Algorithms searched; null for all.",
            choices=algorithms, nullable=True, many=True,
        ),
        *fixed,
    )  # fmt: skip
