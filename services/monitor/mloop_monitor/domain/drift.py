"""Drift of one window of values against a model's reference profile (pure: no I/O).

The reference is what `mloop_common.ml.profile.column_profile` wrote at training time, so only
its summaries are known: decile bins and quantiles of a numeric column, the top values of a
categorical one, token-count quantiles and the top tokens of a text one.

- numeric: PSI over the reference bins (values outside them fall in the end bins), a
  Kolmogorov-Smirnov distance to the reference CDF interpolated piecewise-linearly through the
  bin edges and quantiles, and the Wasserstein distance to that same reference distribution
  divided by the reference std;
- categorical and boolean: chi-square of the window's counts against the reference shares
  (values outside the reference's top list pooled into `other`) and the Jensen-Shannon distance;
- text: the numeric tests on the token count per text, and the share of out-of-vocabulary
  tokens (not among the reference's top tokens) beside the reference's own share.

One method decides per kind (default like Evidently's: KS / chi-square at p < 0.05 for a
reference of at most 1000 rows, Wasserstein / Jensen-Shannon at 0.1 above it); the other
statistics are reported beside it. A window with no values gives no verdict, never an error.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from mloop_common.ml.preprocessing import as_flags, as_keys
from mloop_common.ml.profile import TOKEN
from scipy import stats
from scipy.spatial.distance import jensenshannon

SMALL_REFERENCE_ROWS = 1000
PSI_EPSILON = 1e-4
GRID = 2000
KS_EXACT_MAX = 5000
MIDPOINT_FROM = 2000
LATTICES = (1.0, 10.0, 100.0, 1000.0)
LATTICE_TOLERANCE = 1e-9
OTHER = "<other>"

P_VALUE_METHODS = frozenset({"ks", "chisquare"})
METHODS = {
    "numeric": frozenset({"ks", "psi", "wasserstein"}),
    "text": frozenset({"ks", "psi", "wasserstein"}),
    "categorical": frozenset({"chisquare", "jensenshannon"}),
    "boolean": frozenset({"chisquare", "jensenshannon"}),
}
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,  # p-value: drifted below
    "chisquare": 0.05,  # p-value: drifted below
    "wasserstein": 0.1,  # normalised distance: drifted at or above
    "jensenshannon": 0.1,
    "psi": 0.2,
    "oov": 0.1,  # rise of the out-of-vocabulary share over the reference's
}


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict on one column: `score` of the deciding `method` (None: no verdict, see
    `reason`), and the other statistics in `others`."""

    method: str
    score: float | None
    drifted: bool
    others: dict[str, float | None] = field(default_factory=dict)
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "score": self.score,
            "drifted": self.drifted,
            **self.others,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def default_method(kind: str, reference_rows: int) -> str:
    small = reference_rows <= SMALL_REFERENCE_ROWS
    if kind in ("categorical", "boolean"):
        return "chisquare" if small else "jensenshannon"
    return "ks" if small else "wasserstein"


def column_drift(
    kind: str,
    reference_profile: Mapping[str, Any],
    values: pd.Series | Sequence[Any],
    *,
    reference_rows: int,
    method: str | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> ColumnDrift:
    """Drift of `values` (the current window of one column of type `kind`) against its
    reference profile."""
    limits = DEFAULT_THRESHOLDS | dict(thresholds or {})
    if kind not in METHODS:
        return _no_verdict(method or "none", f"no drift test for {kind} columns")
    chosen = method or default_method(kind, reference_rows)
    if chosen not in METHODS[kind]:
        raise ValueError(f"method {chosen!r} does not apply to {kind} columns")
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if kind == "numeric":
        return _numeric(reference_profile, series, chosen, limits)
    if kind == "text":
        return _text(reference_profile, series, chosen, limits)
    return _categorical(kind, reference_profile, series, chosen, limits)


def dataset_drift(
    reference: Mapping[str, Any],
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    share: float = 0.5,
) -> dict[str, Any]:
    """Drift of every column of `columns` (name -> kind) of `frame` against `reference` (a
    profile with `rows` and `columns`). Drifted when at least `share` of the columns that got
    a verdict drifted."""
    rows = int(reference.get("rows", 0))
    profiles = reference.get("columns", {})
    features: dict[str, dict[str, Any]] = {}
    judged = drifted = 0
    for name, kind in columns.items():
        method = (methods or {}).get(kind)
        if name not in profiles:
            result = _no_verdict(method or "none", "not in the reference profile")
        elif name not in frame.columns:
            result = _no_verdict(method or "none", "not in the current window")
        else:
            result = column_drift(
                kind,
                profiles[name],
                frame[name],
                reference_rows=rows,
                method=method,
                thresholds=thresholds,
            )
        features[name] = result.as_dict()
        if result.score is not None:
            judged += 1
            drifted += result.drifted
    fraction = drifted / judged if judged else 0.0
    return {"drifted": judged > 0 and fraction >= share, "share": fraction, "features": features}


# --- numeric -------------------------------------------------------------------------------


def _numeric(
    profile: Mapping[str, Any], values: pd.Series, method: str, limits: Mapping[str, float]
) -> ColumnDrift:
    bins = profile.get("bins")
    if not bins or not profile.get("quantiles"):
        return _no_verdict(method, "the reference has no values")
    current = _numbers(values)
    if not len(current):
        return _no_verdict(method, "no values in the current window")
    ordered = np.sort(current)
    edges = np.asarray(bins["edges"], dtype=float)
    counts = np.asarray(bins["counts"], dtype=float)
    total = counts.sum()
    # The share below each edge (np.histogram's bins are [a, b), the last one closed).
    cumulative = np.concatenate([[0.0], np.cumsum(counts)]) / total
    cumulative[-1] = 1.0
    points = _points(profile["quantiles"], zip(edges, cumulative, strict=True))
    # np.histogram's convention: a value on an inner edge belongs to the bin on its right, so
    # the window's values below each inner edge close the bins on its left.
    below = np.searchsorted(ordered, edges[1:-1], side="left")
    window_bins = np.diff(np.concatenate([[0], below, [len(ordered)]]))
    psi = _psi(counts / total, window_bins / len(ordered))
    others = _distribution_tests(points, ordered, total, profile.get("std"), profile.get("mean"))
    others["psi"] = psi
    return _decide(method, others, limits)


def _numbers(values: pd.Series) -> np.ndarray:
    """The finite numbers of `values` (others are ignored)."""
    if pd.api.types.is_float_dtype(values.dtype) or pd.api.types.is_integer_dtype(values.dtype):
        current = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        current = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return current[np.isfinite(current)]


def _points(quantiles: Mapping[str, float], extra: Any = ()) -> tuple[np.ndarray, np.ndarray]:
    """(values, probabilities) of known points of a reference CDF, sorted by value then
    probability: a value appearing with several probabilities is an atom."""
    pairs = [(float(v), float(q)) for q, v in quantiles.items()]
    pairs += [(float(v), float(p)) for v, p in extra]
    pairs.sort()
    values = np.array([v for v, _ in pairs])
    probs = np.maximum.accumulate(np.clip([p for _, p in pairs], 0.0, 1.0))
    probs[0], probs[-1] = 0.0, 1.0
    return values, probs


def _cdf(points: tuple[np.ndarray, np.ndarray], x: np.ndarray, *, left: bool) -> np.ndarray:
    """The piecewise-linear reference CDF at `x` (its left limit when `left`)."""
    values, probs = points
    last = len(values) - 1
    index = np.searchsorted(values, x, side="left" if left else "right") - 1
    low = np.clip(index, 0, max(last - 1, 0))
    high = np.minimum(low + 1, last)
    span = values[high] - values[low]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(span > 0, (x - values[low]) / span, 0.0)
    inside = probs[low] + (probs[high] - probs[low]) * np.clip(t, 0.0, 1.0)
    return np.where(index < 0, 0.0, np.where(index >= last, 1.0, inside))


def _ks(points: tuple[np.ndarray, np.ndarray], ordered: np.ndarray) -> float:
    """sup |F_current - F_reference| for the sorted window `ordered`, exact with ties in the
    window and atoms in the reference: both CDFs are monotone and the reference is continuous
    between its points, so the supremum is reached at a limit at a window value or a
    reference point."""
    n = len(ordered)
    last = np.flatnonzero(np.concatenate([ordered[1:] != ordered[:-1], [True]]))
    distinct = ordered[last]
    right = (last + 1) / n
    left = np.concatenate([[0.0], right[:-1]])
    at = points[0]
    at_right = np.searchsorted(ordered, at, side="right") / n
    at_left = np.searchsorted(ordered, at, side="left") / n
    # The reference CDF is continuous and linear between its points (np.interp, fast); at a
    # point it may jump (an atom), so both its limits are taken there.
    reference_right = np.interp(distinct, at, points[1])
    reference_left = reference_right.copy()
    atoms = np.isin(distinct, at)
    reference_right[atoms] = _cdf(points, distinct[atoms], left=False)
    reference_left[atoms] = _cdf(points, distinct[atoms], left=True)
    return float(
        max(
            np.max(np.abs(right - reference_right)),
            np.max(np.abs(left - reference_left)),
            np.max(np.abs(at_right - _cdf(points, at, left=False))),
            np.max(np.abs(at_left - _cdf(points, at, left=True))),
        )
    )


def _wasserstein(
    points: tuple[np.ndarray, np.ndarray], ordered: np.ndarray, reference_count: float
) -> float:
    """The Wasserstein-1 distance between the sorted window and the reference distribution:
    the integral over u in [0, 1] of |Q_window(u) - Q_reference(u)|, piece by piece between
    the window's steps and the reference's known points (exact where the reference quantile is
    linear, and on pieces of at most 1/n in its tails); from MIDPOINT_FROM values, the
    midpoint rule on the window's steps."""
    probs = points[1]
    n = len(ordered)
    if n >= MIDPOINT_FROM:  # pieces of 1/n: the midpoint rule is as good and cheaper
        middle = (np.arange(n) + 0.5) / n
        return float(np.mean(np.abs(ordered - _quantile(points, middle, reference_count))))
    cuts = np.union1d(np.arange(n + 1) / n, probs)
    low, high = cuts[:-1], cuts[1:]
    step = np.minimum(((low + high) * (n / 2)).astype(np.int64), n - 1)
    window = ordered[step]
    reference = _quantile(points, cuts, reference_count)
    at_low = window - reference[:-1]
    at_high = window - reference[1:]
    size_low, size_high = np.abs(at_low), np.abs(at_high)
    same_side = at_low * at_high >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = (at_low**2 + at_high**2) / (2 * (size_low + size_high))
    area = np.where(same_side, (size_low + size_high) / 2, crossing)
    return float(np.sum(area * (high - low)))


def _quantile(points: tuple[np.ndarray, np.ndarray], u: np.ndarray, count: float) -> np.ndarray:
    """The reference quantile function at `u`: linear between known points, but exponential in
    the two tails (beyond the 1% and 99% quantiles, out to the minimum and the maximum), where
    a straight line to an extreme value of a skewed column would spread the last percent far
    too thinly (a log-normal column then "drifts" from itself). The tail's scale puts the
    extreme at the rank it holds among `count` reference values."""
    values, probs = points
    found = np.interp(u, probs, values)
    inner = np.flatnonzero((probs > 0) & (probs < 1))
    if not len(inner) or count < 2:
        return found
    floor = 0.5 / count
    lower_p, lower_v = probs[inner[0]], values[inner[0]]
    upper_p, upper_v = probs[inner[-1]], values[inner[-1]]
    if values[-1] > upper_v and upper_p * count < count - 1:
        scale = (values[-1] - upper_v) / math.log((1 - upper_p) * count)
        top = u > upper_p
        depth = np.log((1 - upper_p) / np.maximum(1 - u[top], floor))
        found[top] = np.minimum(upper_v + scale * depth, values[-1])
    if values[0] < lower_v and lower_p * count > 1:
        scale = (lower_v - values[0]) / math.log(lower_p * count)
        bottom = u < lower_p
        depth = np.log(lower_p / np.maximum(u[bottom], floor))
        found[bottom] = np.maximum(lower_v - scale * depth, values[0])
    return found


def _ks_pvalue(statistic: float, effective: int) -> float:
    """P(D >= statistic) for a two-sample test of effective size `effective`: the exact
    distribution up to KS_EXACT_MAX (SciPy's kstwo, slow for large sizes), then the Kolmogorov
    limit with Stephens' correction (off by under 1e-3 there)."""
    if effective <= KS_EXACT_MAX:
        return float(stats.kstwo.sf(statistic, effective))
    root = math.sqrt(effective)
    return float(stats.kstwobign.sf(statistic * (root + 0.12 + 0.11 / root)))


def _integral_distances(
    points: tuple[np.ndarray, np.ndarray], current: np.ndarray
) -> tuple[float, float]:
    """KS and Wasserstein distances for integer values (`current` sorted), where the
    reference's atoms make a linear interpolation wrong: each known point (v, q) only bounds
    the reference CDF (F(k) >= q when v < k + 1, F(k) <= q when v > k), and the distances are
    those from the window's CDF to that band (so conservative: never larger than to the true
    reference)."""
    values, probs = points
    at = np.union1d(current, np.union1d(np.floor(values), np.ceil(values)))
    low_index = np.searchsorted(values, at + 1, side="left") - 1
    low = np.where(low_index >= 0, probs[np.clip(low_index, 0, None)], 0.0)
    high_index = np.searchsorted(values, at, side="right")
    high = np.where(high_index < len(values), probs[np.minimum(high_index, len(values) - 1)], 1.0)
    empirical = np.searchsorted(current, at, side="right") / len(current)
    gap = np.maximum(0.0, np.maximum(empirical - high, low - empirical))
    return float(gap.max()), float(np.sum(gap[:-1] * np.diff(at)))


def _distribution_tests(
    points: tuple[np.ndarray, np.ndarray],
    ordered: np.ndarray,
    reference_count: float,
    reference_std: float | None,
    reference_mean: float | None,
) -> dict[str, float | None]:
    """KS (statistic and p-value) and the normalised Wasserstein distance of the sorted window
    `ordered` against the reference CDF through `points`."""
    values, probs = points
    scale = _lattice(values, ordered)
    if scale is not None:
        statistic, distance = _integral_distances((values * scale, probs), ordered * scale)
        distance /= scale
    else:
        statistic = _ks(points, ordered)
        distance = _wasserstein(points, ordered, reference_count)
    # The reference is itself a sample of `reference_count` values: the p-value is that of a
    # two-sample test, with the effective size n*m/(n+m).
    n, m = len(ordered), max(float(reference_count), 1.0)
    effective = max(1, round(n * m / (n + m)))
    p_value = _ks_pvalue(statistic, effective)
    grid = None
    if reference_std is None or reference_mean is None:
        grid = np.interp((np.arange(GRID) + 0.5) / GRID, probs, values)
    std = float(reference_std) if reference_std is not None else float(grid.std())
    if std > 1e-12:
        normalised = distance / std
    else:  # a constant reference: the shift relative to its value (at least 1)
        mean = float(reference_mean) if reference_mean is not None else float(grid.mean())
        normalised = distance / max(abs(mean), 1.0)
    return {"ks_statistic": statistic, "ks_pvalue": p_value, "wasserstein": normalised}


def _lattice(values: np.ndarray, ordered: np.ndarray) -> float | None:
    """The scale (1, 10, 100 or 1000) that makes the data integers, if any: integers, or
    decimals of few digits (a measure to 0.1 cm, a price in cents). Quantiles may fall between
    two of them, so both ends and most known points of the reference must be on the lattice,
    and every value of the window. Such data has atoms a linear interpolation gets wrong."""
    for scale in LATTICES:
        scaled = values * scale
        whole = np.abs(scaled - np.round(scaled)) <= LATTICE_TOLERANCE * np.maximum(
            1.0, np.abs(scaled)
        )
        if not (whole[0] and whole[-1] and whole.mean() >= 0.5):
            continue
        window = ordered * scale
        if np.all(
            np.abs(window - np.round(window)) <= LATTICE_TOLERANCE * np.maximum(1.0, np.abs(window))
        ):
            return scale
    return None


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    ref = np.maximum(reference, PSI_EPSILON)
    cur = np.maximum(current, PSI_EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


# --- categorical and boolean ---------------------------------------------------------------


def _categorical(
    kind: str,
    profile: Mapping[str, Any],
    values: pd.Series,
    method: str,
    limits: Mapping[str, float],
) -> ColumnDrift:
    shares = dict(profile.get("frequencies") or {})
    if not shares:
        return _no_verdict(method, "the reference has no values")
    categories = list(shares)
    known = set(categories)
    counted: Counter[str] = Counter()
    for key, count in _key_counts(kind, values).items():
        counted[key if key in known else OTHER] += count
    if not counted:
        return _no_verdict(method, "no values in the current window")
    observed = np.array([counted[c] for c in categories] + [counted[OTHER]], dtype=float)
    expected_share = np.array(
        [float(shares[c]) for c in categories] + [float(profile.get("other") or 0.0)]
    )
    expected_share /= expected_share.sum()
    # A share of 0 (no `other` in the reference) would make any unseen value infinitely
    # surprising: smooth it to a small one.
    smoothed = np.maximum(expected_share, PSI_EPSILON)
    smoothed /= smoothed.sum()
    total = observed.sum()
    chi = stats.chisquare(observed, smoothed * total)
    others = {
        "chisquare_statistic": _finite(chi.statistic),
        "chisquare_pvalue": _finite(chi.pvalue),
        "jensenshannon": _finite(jensenshannon(expected_share, observed / total, base=2)),
        "outside_top_share": float(counted[OTHER] / total),
    }
    return _decide(method, others, limits)


def _key_counts(kind: str, values: pd.Series) -> dict[str, int]:
    """How often each key (the text a reference profile counts a value under) occurs among the
    present values. Values are counted first and only the distinct ones turned into keys, so a
    window costs one hash pass, not a Python call per value. (Counting merges values Python
    holds equal: True with 1 and False with 0 in a column mixing both.)"""
    distinct = values.value_counts(sort=False, dropna=True)
    if not len(distinct):
        return {}
    labels = pd.Series(distinct.index.to_numpy(dtype=object), dtype=object)
    if kind == "boolean":
        flags = as_flags(labels)
        keys = np.where(flags == 1, "true", "false")
        usable = ~np.isnan(flags)
    else:
        keys = as_keys(labels)
        usable = np.ones(len(keys), dtype=bool)
    found: Counter[str] = Counter()
    for key, count, ok in zip(keys.tolist(), distinct.tolist(), usable.tolist(), strict=True):
        if ok:
            found[str(key)] += int(count)
    return found


# --- text ----------------------------------------------------------------------------------


def _text(
    profile: Mapping[str, Any], values: pd.Series, method: str, limits: Mapping[str, float]
) -> ColumnDrift:
    token_count = profile.get("token_count") or {}
    if not token_count.get("quantiles"):
        return _no_verdict(method, "the reference has no values")
    texts = [v for v in values.tolist() if isinstance(v, str) and v.strip()]
    if not texts:
        return _no_verdict(method, "no values in the current window")
    tokenised = [TOKEN.findall(text.lower()) for text in texts]
    lengths = np.sort(np.array([len(tokens) for tokens in tokenised], dtype=float))
    points = _points(token_count["quantiles"])
    reference_texts = float(profile.get("count", 0)) * (1.0 - float(profile.get("missing", 0)))
    others = _distribution_tests(points, lengths, reference_texts, None, None)
    # PSI over the intervals between distinct quantiles, (a, b] with the first one closed.
    edges = np.unique(points[0])
    below = _cdf(points, edges, left=False)
    reference_bins = np.diff(below, prepend=0.0)
    reference_bins[1] += reference_bins[0] if len(edges) > 1 else 0.0
    reference_bins = reference_bins[1:] if len(edges) > 1 else reference_bins
    where = np.searchsorted(edges[1:-1], lengths, side="left")
    others["psi"] = _psi(
        reference_bins, np.bincount(where, minlength=len(reference_bins)) / len(lengths)
    )
    vocabulary = profile.get("vocabulary") or {}
    tokens = [token for words in tokenised for token in words]
    oov = sum(token not in vocabulary for token in tokens) / len(tokens) if tokens else 0.0
    others["oov_share"] = oov
    mean = token_count.get("mean")
    reference_oov = None
    if mean and reference_texts and "vocabulary_size" in profile:
        reference_tokens = float(mean) * reference_texts
        reference_oov = max(0.0, 1.0 - sum(vocabulary.values()) / reference_tokens)
    others["reference_oov_share"] = reference_oov
    others["oov_increase"] = oov - (reference_oov or 0.0)
    result = _decide(method, others, limits)
    if others["oov_increase"] >= limits["oov"] and not result.drifted:
        return ColumnDrift(result.method, result.score, True, result.others, "vocabulary")
    return result


# --- verdicts ------------------------------------------------------------------------------


def _decide(
    method: str, statistics: dict[str, float | None], limits: Mapping[str, float]
) -> ColumnDrift:
    key = {"ks": "ks_pvalue", "chisquare": "chisquare_pvalue"}.get(method, method)
    score = statistics.get(key)
    others = {name: value for name, value in statistics.items() if name != key}
    if score is None or not math.isfinite(score):
        return ColumnDrift(method, None, False, others, "the statistic is undefined")
    if method in P_VALUE_METHODS:
        drifted = score < limits[method]
    else:
        drifted = score >= limits[method]
    return ColumnDrift(method, float(score), bool(drifted), others)


def _no_verdict(method: str, reason: str) -> ColumnDrift:
    return ColumnDrift(method, None, False, {}, reason)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
