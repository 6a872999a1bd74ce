"""The dashboard's training and serving pages in headless Chromium: a model config (with the
API's validation message beside its field), an experiment run from the page with its progress
bar reaching the end, a second run, the comparison of the two, a promotion, and what a viewer
is left to see.

The scenario, its data and its feature set are set up through the API (the core pages' test
covers doing that in the browser); everything else happens in the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import classification
from tests.integration.training_support import scenario_with_data

RUN_TIMEOUT_MS = 120_000
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width", "colour"]


@pytest.fixture
def scenario(
    gateway: RunningGateway, trainers: list[RunningTrainer], scheduler: RunningService
) -> dict[str, Any]:
    """A classification scenario (manual deployment policy) with data and a feature set."""
    with gateway.client() as client:
        sid, dataset = scenario_with_data(client, "classification", classification())
        feature_set = client.post(
            f"/api/scenarios/{sid}/feature-sets",
            json={
                "name": "iris",
                "dataset_id": dataset["id"],
                "target": "species",
                "features": FEATURES,
            },
        )
        assert feature_set.status_code == 201, feature_set.text
    return {"id": sid, "feature_set": feature_set.json()}


def wait_for_run_end(page: Any) -> str:
    """On a run page: the progress bar reaches 100 % with the run completed; the run's id."""
    try:
        page.wait_for_selector(
            '#run-progress[aria-valuenow="100"][data-status="completed"]', timeout=RUN_TIMEOUT_MS
        )
    except Exception as error:
        shown = page.locator("#run-page").inner_text()
        raise AssertionError(f"the run did not reach the end on its page:\n{shown}") from error
    assert page.locator("#run-progress-label").inner_text() == "100%"
    page.wait_for_selector("#results:not([hidden]) #run-metrics table")
    assert page.locator("#run-log").inner_text().strip(), "no log lines were shown"
    return page.locator("#run-page").get_attribute("data-run")


def test_define_run_compare_and_promote(
    signed_in: Any,
    sign_in: Callable[..., None],
    visit: Callable[..., Any],
    scenario: dict[str, Any],
    gateway: RunningGateway,
) -> None:
    page, sid = signed_in, scenario["id"]

    # A model config: first refused by the API, with its message beside the field.
    visit(page, f"/scenarios/{sid}/configs")
    form = page.locator("#model-config-form")
    form.locator("input[name=name]").fill("small-gbm")
    form.locator("select[name=algorithm]").select_option("lightgbm")
    form.locator("input[name=n_estimators]").fill("0")
    form.locator("button[type=submit]").click()
    error = form.locator('.field-error[data-for="n_estimators"]')
    error.wait_for()
    page.wait_for_function(
        "() => document.querySelector('.field-error[data-for=\"n_estimators\"]').textContent"
    )
    assert "n_estimators" in error.inner_text()
    visit.shot(page, "config-refused")
    form.locator("input[name=n_estimators]").fill("20")
    form.locator("button[type=submit]").click()
    page.locator("#model-configs td", has_text="small-gbm").wait_for()
    assert error.inner_text() == ""

    # An experiment from the feature set and the config, run at once.
    visit(page, f"/scenarios/{sid}/experiments")
    form = page.locator("#experiment-form")
    form.locator("input[name=name]").fill("first")
    form.locator("#feature-set-select").select_option(scenario["feature_set"]["id"])
    assert form.locator("input[name=model_configs]").first.is_checked()
    form.locator("button[type=submit]").click()
    page.locator("#run-list a.mono").first.wait_for()
    page.locator("#experiment-list a", has_text="first").wait_for()

    # Its run: the live progress bar reaches the end, the log streams.
    page.locator("#run-list a.mono").first.click()
    page.wait_for_url(re.compile(r"/runs/"))
    first_run = wait_for_run_end(page)
    first_experiment = page.locator("#experiment-link").get_attribute("href").rsplit("/", 1)[1]
    visit.shot(page, "first-run-done")

    # A second run of the same experiment, from the experiment's page.
    page.locator("#back-link").click()
    page.wait_for_url(re.compile(r"/experiments/"))
    page.locator("#run-experiment").click()
    started = page.locator("#run-status a")
    try:
        started.wait_for(timeout=60_000)
    except Exception as error:  # Playwright's timeout: say what the page said instead
        status = page.locator("#run-status").inner_text()
        raise AssertionError(f"no second run started; the page says {status!r}") from error
    started.click()
    page.wait_for_url(re.compile(r"/runs/"))
    second_run = wait_for_run_end(page)
    assert second_run != first_run

    # Compare the two: a table side by side and three bar charts.
    page.locator("#back-link").click()
    page.wait_for_url(re.compile(r"/experiments/"))
    page.locator(f"input.pick-run[value='{first_run}']").check()
    page.locator(f"input.pick-run[value='{second_run}']").check()
    page.locator("#compare-runs").click()
    page.wait_for_url(re.compile(r"/compare\?runs="))
    page.wait_for_selector("#compare-page[data-ready=true]")
    assert page.locator("#compare-table th a").count() == 2
    assert page.locator("#compare-table td", has_text="accuracy").count() == 1
    assert page.locator(".js-plotly-plot").count() == 3
    assert page.locator("#chart-metrics .bars .point").count() > 0
    visit.shot(page, "compare")

    # Promote the second run's model: it becomes the champion.
    with gateway.client() as client:
        model_id = client.get(f"/api/scenarios/{sid}/runs/{second_run}").json()["model_id"]
    visit(page, f"/scenarios/{sid}/models")
    page.wait_for_selector("#models-page[data-ready=true]")
    assert page.locator("#model-list tbody tr").count() == 2
    page.locator(f"button.promote[data-model='{model_id}']").click()
    page.wait_for_selector(f"#models-page[data-champion='{model_id}']", timeout=60_000)
    page.locator(f"button.promote[data-model='{model_id}']").wait_for(state="detached")
    assert model_id[:8] in page.locator("#champion-slot").inner_text()
    assert page.locator("#model-list tr.is-champion .badge-champion").count() == 1
    assert page.locator("#history tbody tr").count() == 1
    visit.shot(page, "promoted")

    # A viewer sees the same pages without the buttons that change things.
    with gateway.client() as admin:
        viewer = admin.post("/api/keys", json={"name": "training viewer", "role": "viewer"})
        assert viewer.status_code == 201, viewer.text
    page.locator("#sign-out").click()
    page.wait_for_url(re.compile(r"/login"))
    sign_in(page, viewer.json()["key"])
    visit(page, f"/scenarios/{sid}/models")
    page.wait_for_selector("#models-page[data-ready=true]")
    assert model_id[:8] in page.locator("#champion-slot").inner_text()
    assert page.locator("button.promote, #rollback, #ab-form").count() == 0
    visit(page, f"/scenarios/{sid}/experiments/{first_experiment}")
    page.locator("#run-list a.mono").first.wait_for()
    assert page.locator("#run-experiment").count() == 0
    visit(page, f"/scenarios/{sid}/configs")
    page.locator("#model-configs td", has_text="small-gbm").wait_for()
    assert page.locator("form").count() == 1  # only the sign-out form
