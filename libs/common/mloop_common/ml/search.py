"""`auto`: an Optuna search over a task's algorithms and their hyperparameters.

The training part is split again (the same way the holdout was taken, with the same share) into
a fitting part and a validation part; each trial picks an algorithm and values within the
schemas' search ranges (a TPE sampler seeded by the run), fits on the fitting part and is scored
on the validation part by the run's primary metric. The holdout is never seen. The search stops
after `max_trials` trials or once `time_budget` seconds have passed (a trial under way finishes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from .algorithms import ALGORITHMS, definition, fixed_in_search, with_defaults
from .metrics import higher_is_better
from .problems import Problem


@dataclass(frozen=True)
class SearchResult:
    algorithm: str
    parameters: dict[str, Any]
    value: float
    trials: list[dict[str, Any]]


def candidates(task_type: str, chosen: Any) -> list[str]:
    if chosen is None:
        return [name for name in ALGORITHMS[task_type] if name != "auto"]
    return [chosen] if isinstance(chosen, str) else list(dict.fromkeys(chosen))


def suggest(trial: optuna.Trial, task_type: str, algorithm: str, fixed: dict) -> dict[str, Any]:
    """Values for `algorithm`'s searched parameters, the defaults (or `fixed`) for the rest."""
    params = with_defaults(task_type, algorithm, fixed)
    for param in definition(task_type, algorithm).params:
        if param.search is None or param.name in fixed:
            continue
        name = f"{algorithm}.{param.name}"
        if param.type == "integer":
            low, high = param.search
            params[param.name] = trial.suggest_int(name, low, high, log=param.log)
        elif param.type == "number":
            low, high = param.search
            params[param.name] = trial.suggest_float(name, low, high, log=param.log)
        else:
            params[param.name] = trial.suggest_categorical(name, list(param.search))
    return params


def search(
    problem: Problem,
    settings: dict[str, Any],
    rows: np.ndarray,
    *,
    share: float,
    primary: str,
    seed: int,
    n_jobs: int,
    budget: float,
    progress: Callable[[float, str], None],
    log: Callable[[str], None],
) -> SearchResult:
    """The best algorithm and parameters for `problem` on `rows` (the training part)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task = problem.task_type
    names = candidates(task, settings.get("algorithms"))
    fixed = {name: settings[name] for name in fixed_in_search(task) if name in settings}
    fitting, validation = problem.split(rows, share, seed)
    max_trials = settings["max_trials"]
    log(
        f"searching {', '.join(names)}: at most {max_trials} trials in {budget:.0f} s; "
        f"{len(fitting)} rows to fit, {len(validation)} to validate, by {primary}"
    )
    trials: list[dict[str, Any]] = []
    errors: list[Exception] = []

    def objective(trial: optuna.Trial) -> float:
        started = time.monotonic()
        algorithm = trial.suggest_categorical("algorithm", names)
        params = suggest(trial, task, algorithm, fixed)
        trial.set_user_attr("algorithm", algorithm)
        trial.set_user_attr("parameters", params)
        try:
            model = problem.fit(algorithm, params, fitting, n_jobs=n_jobs, seed=seed)
            scored = problem.evaluate(model, validation)
        except Exception as error:
            errors.append(error)
            trial.set_user_attr("error", str(error))
            raise
        finally:
            trial.set_user_attr("seconds", time.monotonic() - started)
        if primary not in scored.metrics:
            trial.set_user_attr("error", f"{primary} is undefined on the validation rows")
            raise optuna.TrialPruned()
        return scored.metrics[primary]

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        entry = {
            "number": trial.number,
            "algorithm": trial.user_attrs.get("algorithm"),
            "parameters": trial.user_attrs.get("parameters", {}),
            "value": trial.value,
            "state": trial.state.name,
            "seconds": round(float(trial.user_attrs.get("seconds", 0.0)), 3),
        }
        if "error" in trial.user_attrs:
            entry["error"] = trial.user_attrs["error"]
        trials.append(entry)
        outcome = f"{primary}={trial.value:.4g}" if trial.value is not None else entry["state"]
        log(f"trial {trial.number + 1}: {entry['algorithm']} {entry['parameters']} -> {outcome}")
        progress(0.1 + 0.7 * len(trials) / max_trials, f"trial {len(trials)}/{max_trials}")

    direction = "maximize" if higher_is_better(primary) else "minimize"
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(
        objective, n_trials=max_trials, timeout=budget, catch=(Exception,), callbacks=[record]
    )
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        if errors:
            raise errors[0]
        raise ValueError(f"no trial could compute {primary} on the validation rows")
    best = study.best_trial
    log(f"best trial {best.number + 1}: {best.user_attrs['algorithm']}, {primary}={best.value:.4g}")
    return SearchResult(
        best.user_attrs["algorithm"], best.user_attrs["parameters"], best.value, trials
    )
