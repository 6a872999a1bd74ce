"""`ALSRecommender`: matrix factorisation of user-item interactions by implicit alternating
least squares (Hu, Koren and Volinsky, 2008), in numpy.

Every interaction with a positive weight counts as a preference, with confidence
1 + alpha * weight / largest weight; the weight is the rating, True for a boolean target, or 1
without a target. Interactions with a weight of 0 or less (False, a zero rating) are not
preferences but still count as items the user had.

`predict(records)` reads each record's user and returns an object array (n records, k) of the
top-k items the user did not have in training, best first (None where fewer items remain);
`recommend(records)` returns the same as lists of {"item", "score"}. A user unseen in training
gets the most popular items, scored by their share of interactions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator

from .preprocessing import as_keys, records

_BATCH_FLOATS = 1 << 22


def original(value: Any) -> Any:
    """A JSON-able item id: numpy scalars unwrapped, whole floats as ints."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class ALSRecommender(BaseEstimator):
    def __init__(
        self,
        user_column: str = "user",
        item_column: str = "item",
        factors: int = 32,
        regularization: float = 0.1,
        iterations: int = 15,
        alpha: float = 10.0,
        k: int = 10,
        n_jobs: int = 1,
        random_state: int | None = None,
    ) -> None:
        self.user_column = user_column
        self.item_column = item_column
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.k = k
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> ALSRecommender:
        """`n_jobs` is honoured by the caller's thread limits (numpy's BLAS)."""
        frame = records(X)
        users = as_keys(frame[self.user_column])
        raw_items = frame[self.item_column].to_numpy(dtype=object)
        items = as_keys(frame[self.item_column])
        weights = np.ones(len(frame)) if y is None else np.asarray(y, dtype=float)
        self.user_ids_, user_index = np.unique(users, return_inverse=True)
        item_ids, first, item_index = np.unique(items, return_index=True, return_inverse=True)
        self.item_keys_ = item_ids
        self.items_ = np.array([original(raw_items[i]) for i in first], dtype=object)
        shape = (len(self.user_ids_), len(item_ids))
        seen = sparse.csr_matrix((np.ones(len(frame)), (user_index, item_index)), shape=shape)
        self.seen_ = (seen > 0).astype(np.int8).tocsr()
        positive = weights > 0
        largest = weights[positive].max() if positive.any() else 1.0
        extra = self.alpha * weights[positive] / largest
        confidence = sparse.csr_matrix(
            (extra, (user_index[positive], item_index[positive])), shape=shape
        )
        confidence.sum_duplicates()
        rng = np.random.default_rng(self.random_state)
        self.user_factors_ = np.zeros((shape[0], self.factors))
        self.item_factors_ = rng.normal(0, 0.01, (shape[1], self.factors))
        by_item = confidence.T.tocsr()
        for _ in range(self.iterations):
            self.user_factors_ = _solve(confidence, self.item_factors_, self.regularization)
            self.item_factors_ = _solve(by_item, self.user_factors_, self.regularization)
        popularity = np.asarray((confidence > 0).sum(axis=0)).ravel().astype(float)
        self.popularity_ = popularity / popularity.sum() if popularity.sum() else popularity
        self.user_positions_ = {user: i for i, user in enumerate(self.user_ids_)}
        return self

    def predict(self, X: Any) -> np.ndarray:
        ranked = self.recommend(X)
        out = np.full((len(ranked), self.k), None, dtype=object)
        for row, entries in enumerate(ranked):
            for column, entry in enumerate(entries):
                out[row, column] = entry["item"]
        return out

    def recommend(self, X: Any, k: int | None = None) -> list[list[dict[str, Any]]]:
        ranked = self.rank(self.users(X), k or self.k)
        return [
            [{"item": self.items_[i], "score": float(scores[i])} for i in top]
            for top, scores in ranked
        ]

    def users(self, X: Any) -> np.ndarray:
        """Each record's user, as the key the model knows it by."""
        frame = records(X)
        if self.user_column not in frame.columns:
            return np.full(len(frame), None, dtype=object)
        return as_keys(frame[self.user_column])

    def rank(self, users: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per user: (positions of the top-k items in `items_`, the scores of every item)."""
        out = []
        for user in users:
            position = self.user_positions_.get(user)
            if position is None:
                scores = self.popularity_.copy()
            else:
                scores = self.item_factors_ @ self.user_factors_[position]
                span = slice(self.seen_.indptr[position], self.seen_.indptr[position + 1])
                scores[self.seen_.indices[span]] = -np.inf
            out.append((_top(scores, k), scores))
        return out


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    candidates = np.flatnonzero(np.isfinite(scores))
    if len(candidates) > k:
        candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
    return candidates[np.lexsort((candidates, -scores[candidates]))]


def _solve(confidence: sparse.csr_matrix, other: np.ndarray, regularization: float) -> np.ndarray:
    """Each row's factors given the other side's: (O'O + O'(C-I)O + reg I) x = O'C p, p = 1 on
    the row's interactions; `confidence` holds C - I. Rows are solved in batches."""
    rows, f = confidence.shape[0], other.shape[1]
    gram = other.T @ other + regularization * np.eye(f)
    indptr, indices, extra = confidence.indptr, confidence.indices, confidence.data
    out = np.zeros((rows, f))
    batch = max(1, _BATCH_FLOATS // (f * f))
    start = 0
    while start < rows:
        end = int(np.searchsorted(indptr, indptr[start] + batch, side="right")) - 1
        end = min(max(end, start + 1), rows)
        low, high = indptr[start], indptr[end]
        counts = np.diff(indptr[start : end + 1])
        system = np.repeat(gram[None], end - start, axis=0)
        rhs = np.zeros((end - start, f))
        filled = counts > 0
        if high > low:
            vectors = other[indices[low:high]]
            weights = extra[low:high]
            outer = vectors[:, :, None] * (vectors * weights[:, None])[:, None, :]
            offsets = indptr[start:end][filled] - low
            system[filled] += np.add.reduceat(outer, offsets, axis=0)
            rhs[filled] = np.add.reduceat(vectors * (1 + weights)[:, None], offsets, axis=0)
        out[start:end] = np.linalg.solve(system, rhs[:, :, None])[:, :, 0]
        start = end
    return out


def user_items(frame: pd.DataFrame, user_column: str, item_column: str) -> dict[str, set]:
    """Each user's items (as keys), from interaction records."""
    users = as_keys(frame[user_column])
    items = as_keys(frame[item_column])
    out: dict[str, set] = {}
    for user, item in zip(users, items, strict=True):
        out.setdefault(user, set()).add(item)
    return out
