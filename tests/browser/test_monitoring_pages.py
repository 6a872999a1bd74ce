"""The dashboard's loop pages in headless Chromium: the monitoring charts of a served model with
logged predictions, a trigger created from the page (the API's message beside its field first),
and switched off, and the workflow editor marking a fault at its line, then saving a good
workflow.

The served model and its predictions are set up through the API (as the loop's integration tests
do: a manual-policy scenario, a LightGBM run, a promotion, predictions); the monitor makes the
windows the page charts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import classification
from tests.integration.training_support import experiment, scenario_with_data, start, wait_for

WAIT = 90.0
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "colour"]
BAD_WORKFLOW = """\
steps:
  - name: train
    type: model_training
    config: {algorithm: lightgbm}
  - name: gate
    type: evaluatoin
    needs: [train]
"""
GOOD_WORKFLOW = """\
steps:
  - name: train
    type: model_training
    config: {algorithm: lightgbm}
  - name: gate
    type: evaluation
    needs: [train]
    config: {gates: ["accuracy >= 0.5"]}
"""


def eventually(check: Callable[[], Any], *, what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not in time: {what}")
        time.sleep(0.3)


def records() -> list[dict[str, Any]]:
    frame = classification().sample(n=100, random_state=5)
    return [
        {name: (value.item() if hasattr(value, "item") else value) for name, value in row.items()}
        for row in frame[COLUMNS].to_dict("records")
    ]


@pytest.fixture(scope="module")
def served(
    gateway: RunningGateway,
    trainers: list[RunningTrainer],
    scheduler: RunningService,
    predictor: RunningService,
    monitor: RunningService,
) -> str:
    """A scenario whose promoted model answered 100 predictions, with drift measured."""
    with gateway.client() as client:
        sid, dataset = scenario_with_data(client, "classification", classification())
        made = experiment(
            client,
            sid,
            dataset,
            name="gbm",
            target="species",
            algorithm="lightgbm",
            parameters={"n_estimators": 10},
        )
        done = wait_for(client, sid, start(client, sid, made["id"])["id"])
        assert done["status"] == "completed", done["error"]
        promoted = client.post(f"/api/scenarios/{sid}/models/{done['model_id']}/promote", json={})
        assert promoted.status_code == 202, promoted.text

        def answers() -> bool:
            sent = client.post(f"/api/scenarios/{sid}/predict", json={"records": records()})
            return sent.status_code == 200

        eventually(answers, what="the predictor to serve the champion")

        def measured() -> bool:
            found = client.get(f"/api/scenarios/{sid}/monitoring/drift")
            return found.status_code == 200

        eventually(measured, what="a monitoring window with drift measured")
    return sid


def test_monitoring_page_draws_the_charts(
    signed_in: Any, visit: Callable[..., Any], served: str
) -> None:
    page = visit(signed_in, f"/scenarios/{served}/monitoring?range=1h")
    page.wait_for_selector('#monitoring-page[data-loaded="true"]')
    for chart in ("drift", "drifted", "metrics", "volume", "latency"):
        page.wait_for_selector(f"#chart-{chart} svg.main-svg")
    assert page.locator("#chart-drift .scatterlayer .trace").count() == len(COLUMNS)
    assert page.locator("#chart-volume .barlayer .trace").count() >= 1
    rows = page.locator("#drift-features tbody tr")
    assert rows.count() == len(COLUMNS) + 1  # every feature and the model's output
    assert "petal_length" in page.locator("#drift-features").inner_text()
    visit.shot(page, "monitoring-charts")


def test_create_a_trigger(signed_in: Any, visit: Callable[..., Any], served: str) -> None:
    page = visit(signed_in, f"/scenarios/{served}/triggers")
    page.wait_for_selector('#triggers-page[data-loaded="true"]')
    form = page.locator("#trigger-form")
    form.locator('input[name="name"]').fill("nightly")
    form.locator('select[name="kind"]').select_option("schedule")
    form.locator('input[name="cron"]').fill("0 3 * * * * *")
    page.click("#create-trigger")
    error = page.locator('.field-error[data-for="cron"]')
    error.wait_for()
    page.wait_for_function(
        "document.querySelector('.field-error[data-for=\"cron\"]').textContent.length > 0"
    )
    assert "5 or 6 fields" in error.inner_text()
    visit.shot(page, "trigger-refused")

    form.locator('input[name="cron"]').fill("0 3 * * *")
    form.locator('input[name="timezone"]').fill("Asia/Seoul")
    page.click("#create-trigger")
    row = page.locator("#trigger-list tr", has_text="nightly")
    row.wait_for()
    assert "0 3 * * *" in row.inner_text() and "Asia/Seoul" in row.inner_text()
    assert page.locator('.field-error[data-for="cron"]').inner_text() == ""
    page.wait_for_selector("#firings-title:has-text('nightly')")
    visit.shot(page, "trigger-created")

    row.locator("button[data-toggle]").click()  # switch it off (PUT enabled: false)
    page.locator("#trigger-list tr", has_text="nightly").locator(
        "button[data-toggle]:has-text('Switch on')"
    ).wait_for()


def test_workflow_editor_marks_the_faulty_line(
    signed_in: Any, visit: Callable[..., Any], served: str
) -> None:
    page = visit(signed_in, f"/scenarios/{served}/workflows")
    page.wait_for_selector('#workflows-page[data-loaded="true"]')
    page.fill("#yaml", BAD_WORKFLOW)
    page.click("#save-workflow")
    page.wait_for_selector('#workflows-page[data-saved="error"]')
    bad = page.locator("#gutter .ln.bad")
    assert bad.count() >= 1
    assert bad.first.get_attribute("data-line") == "6"  # `type: evaluatoin`
    assert "evaluatoin" in (bad.first.get_attribute("title") or "")
    assert page.locator('#marks .mk.bad[data-line="6"]').count() == 1
    assert "Line 6" in page.locator("#problems").inner_text()
    visit.shot(page, "workflow-refused")

    page.fill("#yaml", GOOD_WORKFLOW)
    page.click("#save-workflow")
    page.wait_for_selector('#workflows-page[data-saved="1"]')
    assert page.locator("#gutter .ln.bad").count() == 0
    assert page.locator("#problems li").count() == 0
    assert "1" in page.locator("#version-line").inner_text()
    visit.shot(page, "workflow-saved")

    page.reload()  # the saved version is what the page loads
    page.wait_for_selector('#workflows-page[data-loaded="true"]')
    assert page.locator("#yaml").input_value() == GOOD_WORKFLOW
