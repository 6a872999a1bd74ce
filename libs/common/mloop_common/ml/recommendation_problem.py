"""Recommendation data made ready to train: the user and item columns, interaction weights,
splits of interactions, and evaluation by ranking.

The holdout is a random share of the interactions. A user's relevant items are those of their
held-out interactions with a positive weight, less the items they already had in training
(which are never recommended); users with no relevant item are not scored. Metrics are averaged
over the scored users; coverage is the share of the training catalogue recommended to anyone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .data import Prepared, UnusableData
from .preprocessing import as_keys
from .problems import Problem, Scored
from .recommendation import ALSRecommender
from .scoring import ranking_metrics


class RecommendationProblem(Problem):
    task_type = "recommendation"

    def __init__(
        self, prepared: Prepared, params: dict[str, Any], log: Callable[[str], None]
    ) -> None:
        names = list(prepared.features)
        user = params.get("user_column") or (names[0] if names else None)
        item = params.get("item_column") or next((n for n in names if n != user), None)
        if user is None or item is None:
            raise UnusableData(
                "recommendation needs a user column and an item column: give two features "
                "(user first) or the parameters user_column and item_column"
            )
        for name in (user, item):
            if name not in prepared.frame.columns:
                raise UnusableData(f"no column {name!r} in the dataset")
        if user == item:
            raise UnusableData("the user column and the item column must differ")
        self.user_column, self.item_column = user, item
        self.target_name, self.target_type = prepared.target, prepared.target_type
        frame = prepared.frame
        known = (frame[user].notna() & frame[item].notna()).to_numpy()
        if not known.all():
            log(f"dropped {int((~known).sum())} interactions without a user or an item")
        self.frame = frame.loc[known].reset_index(drop=True)
        self.y = prepared.y[known] if prepared.y is not None else None
        self.feedback = {None: "implicit", "boolean": "boolean"}.get(prepared.target_type, "rating")
        columns = dict.fromkeys([user, item, *names])
        self.features = {name: prepared.features.get(name, "categorical") for name in columns}
        self.users = as_keys(self.frame[user])
        self.items = as_keys(self.frame[item])
        for label, values in (("users", self.users), ("items", self.items)):
            if len(np.unique(values)) < 2:
                raise UnusableData(f"recommendation needs at least 2 {label}; the data has one")

    @property
    def labelled(self) -> bool:
        return True

    def fit(
        self, algorithm: str, params: dict[str, Any], rows: np.ndarray, *, n_jobs: int, seed: int
    ) -> ALSRecommender:
        settings = {
            name: params[name] for name in ("factors", "regularization", "iterations", "alpha", "k")
        }
        model = ALSRecommender(
            user_column=self.user_column,
            item_column=self.item_column,
            **settings,
            n_jobs=n_jobs,
            random_state=seed,
        )
        weights = self.y[rows] if self.y is not None else None
        return model.fit(self.frame.iloc[rows][[self.user_column, self.item_column]], weights)

    def evaluate(self, model: ALSRecommender, rows: np.ndarray) -> Scored:
        positive = self.y[rows] > 0 if self.y is not None else np.ones(len(rows), bool)
        relevant: dict[str, set[str]] = {}
        for user, item in zip(self.users[rows][positive], self.items[rows][positive], strict=True):
            relevant.setdefault(user, set()).add(item)
        for user, wanted in relevant.items():
            position = model.user_positions_.get(user)
            if position is not None:
                span = slice(model.seen_.indptr[position], model.seen_.indptr[position + 1])
                wanted.difference_update(model.item_keys_[model.seen_.indices[span]])
        users = np.array([user for user, wanted in relevant.items() if wanted], dtype=object)
        ranked = model.rank(users, model.k)
        recommended = [model.item_keys_[top].tolist() for top, _ in ranked]
        metrics = ranking_metrics(
            recommended, [relevant[user] for user in users], model.k, len(model.item_keys_)
        )
        details = {"k": model.k, "users_scored": len(users), "feedback": self.feedback}
        items = [model.items_[i] for top, _ in ranked for i in top]
        return Scored(metrics, details, {"items": items})

    def resolved(self, params: dict[str, Any]) -> dict[str, Any]:
        return params | {"user_column": self.user_column, "item_column": self.item_column}

    def extras(self, model: ALSRecommender, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "user_column": self.user_column,
            "item_column": self.item_column,
            "k": model.k,
            "feedback": self.feedback,
            "users": len(model.user_ids_),
            "items": len(model.item_keys_),
            "output": "top-k items per record",
        }
