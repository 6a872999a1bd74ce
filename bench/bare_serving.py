"""The floor for online prediction: a bare FastAPI endpoint on the predictor's path that parses
the same body (`{"records": [{column: number, ...}, ...]}` into a Pydantic model) and answers a
constant, with no model, key check, middleware or broker.

`python -m bench.bare_serving --port N` runs it under uvicorn with the options the services get
from `mloop_common.runtime.serve` (host, `log_level` from `MLOOP_LOG_LEVEL`, so access lines are
logged alike, `timeout_graceful_shutdown=5`, uvicorn's default loop and HTTP parser).
"""

from __future__ import annotations

from typing import Annotated

import typer
from fastapi import FastAPI
from pydantic import BaseModel

ANSWER = {
    "model_id": "00000000-0000-0000-0000-000000000000",
    "predictions": [{"prediction_id": "0" * 32, "prediction": 0, "probabilities": {}}],
}


class PredictRequest(BaseModel):
    records: list[dict[str, float]]


def create_app() -> FastAPI:
    app = FastAPI(title="bare predict endpoint")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/scenarios/{scenario_id}/predict")
    async def predict(scenario_id: str, body: PredictRequest) -> dict[str, object]:
        return ANSWER

    return app


def main(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8090,
    log_level: Annotated[
        str, typer.Option(envvar="MLOOP_LOG_LEVEL", help="uvicorn's log level, as the services.")
    ] = "INFO",
) -> None:
    """Serve the bare endpoint until stopped."""
    import uvicorn

    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=port,
        log_level=log_level.lower(),
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    typer.run(main)
