"""The workflow runner: runs a scenario's workflow definition as a DAG of steps (see `domain`).

Triggers start a run of the scenario's train workflow with `start_train_workflow` (in their own
transaction); users start runs through the gateway (RunWorkflow).
"""

from mloop_scheduler.workflows.handlers import start_train_workflow

__all__ = ["start_train_workflow"]
