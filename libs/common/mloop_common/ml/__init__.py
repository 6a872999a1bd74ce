"""The ML core: algorithms and their hyperparameters, training, evaluation and profiling.

`train(spec, frame)` fits a run's model and describes it (`TrainOutcome`); `ALGORITHMS`,
`validate_parameters` and `algorithm_schemas` say what each task can train and with which
settings; `default_metric`, `higher_is_better` and `task_metrics` say how models are compared.

Import from the modules: `algorithms`, `parameters` and `metrics` load nothing heavy, so the
gateway and the scheduler, which only validate parameters or compare metrics, never load
scikit-learn, LightGBM or Optuna; `training` and the estimators' modules do.
"""
