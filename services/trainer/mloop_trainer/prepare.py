"""Data preparation (`PrepareDataset` → `DatasetPrepared`): read a dataset version, apply a
workflow step's recipe (mloop_common.workflows.recipe), store the result as a new CSV.

The file goes to the key the gateway gives a version of that id
(`scenarios/{scenario}/data/{dataset}.csv`), so writing it twice writes the same bytes to the same
place; `DatasetPrepared` is staged in the outbox with the command's id recorded as processed,
so a command delivered twice yields one event. A recipe that cannot apply to the data yields a
`DatasetPrepared` with `error` (and no file) for the workflow run to see, then the command is
dead-lettered with the same reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from mloop_common import outbox, tabular
from mloop_common.db.catalog import DatasetVersion
from mloop_common.db.models import ProcessedMessage
from mloop_common.delivery import PermanentError, first_delivery
from mloop_common.messages.commands import PrepareDataset
from mloop_common.messages.events import DatasetPrepared
from mloop_common.storage import ArtifactNotFound, ArtifactStore
from mloop_common.tabular.frame import read_frame
from mloop_common.workflows import recipe

from mloop_trainer.context import SERVICE, Trainer

log = logging.getLogger(__name__)


def prepared_key(scenario_id: uuid.UUID, dataset_id: uuid.UUID) -> str:
    """Where the gateway keeps a dataset version's file (its `artifact_key` convention)."""
    return f"scenarios/{scenario_id}/data/{dataset_id}.csv"


@dataclass(frozen=True)
class Source:
    artifact_key: str
    encoding: str
    delimiter: str
    types: dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    key: str
    sha256: str
    size: int
    report: tabular.CsvReport


async def on_prepare_dataset(trainer: Trainer, command: PrepareDataset, *, consumer: str) -> None:
    if command.scenario_id is None:
        raise PermanentError("PrepareDataset carries no scenario_id")
    async with trainer.db.transaction() as session:
        done = await session.get(ProcessedMessage, (consumer, command.event_id))
        if done is not None:
            return  # a redelivery: its event is in the outbox already
        row = await session.get(DatasetVersion, command.source_dataset_id)
    error: str | None = None
    prepared: Prepared | None = None
    if row is None or row.scenario_id != command.scenario_id:
        error = f"the source dataset {command.source_dataset_id} does not exist in the scenario"
    else:
        source = Source(
            artifact_key=row.artifact_key,
            encoding=row.encoding,
            delimiter=row.delimiter,
            types={column["name"]: column["type"] for column in row.columns},
        )
        key = prepared_key(command.scenario_id, command.dataset_id)
        try:
            prepared = await asyncio.to_thread(_prepare, trainer.store, source, command.recipe, key)
        except recipe.RecipeError as refused:
            error = str(refused)
        except ArtifactNotFound:
            error = f"the file of the source dataset {command.source_dataset_id} is missing"
    event = _event(command, prepared, error)
    async with trainer.db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=command.event_id):
            return
        outbox.stage(session, service=SERVICE, message=event)
        await session.commit()
    trainer.runtime.relay.notify()
    if error is not None:
        raise PermanentError(f"cannot prepare dataset {command.dataset_id}: {error}")


def _event(
    command: PrepareDataset, prepared: Prepared | None, error: str | None
) -> DatasetPrepared:
    common = {
        **command.caused(),
        "source_dataset_id": command.source_dataset_id,
        "dataset_id": command.dataset_id,
        "path": command.path,
        "workflow_run_id": command.workflow_run_id,
    }
    if prepared is None:
        return DatasetPrepared(**common, artifact_key="", sha256="", rows=0, error=error)
    report = prepared.report
    return DatasetPrepared(
        **common,
        artifact_key=prepared.key,
        sha256=prepared.sha256,
        rows=report.rows,
        size=prepared.size,
        columns=[dataclasses.asdict(column) for column in report.columns],
        encoding=report.encoding,
        delimiter=report.delimiter,
    )


def _prepare(store: ArtifactStore, source: Source, config: dict[str, Any], key: str) -> Prepared:
    """Blocking: read, apply, check the result reads back as an upload would, store it."""
    recipe.check(config)
    with store.open(source.artifact_key) as stream:
        frame = read_frame(
            stream, encoding=source.encoding, delimiter=source.delimiter, types=source.types
        )
    result = recipe.apply(frame, config)
    if not len(result.columns):
        raise recipe.RecipeError("the recipe leaves no column")
    if not len(result):
        raise recipe.RecipeError("the recipe leaves no row (the filter keeps none)")
    data = result.to_csv(index=False, lineterminator="\n").encode("utf-8")
    try:
        report = tabular.inspect_csv(io.BytesIO(data), encoding="utf-8")
    except (tabular.CsvRejected, tabular.WrongEncoding) as refused:
        raise recipe.RecipeError(f"the prepared table is not a usable CSV: {refused}") from None
    stored = store.write(key, io.BytesIO(data))
    return Prepared(key=key, sha256=stored.sha256, size=stored.size, report=report)
