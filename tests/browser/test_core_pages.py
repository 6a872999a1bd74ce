"""The dashboard's core pages in headless Chromium: sign-in, home, scenarios, data, feature
sets, languages and what a viewer may do."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.fixtures.services import RunningGateway

CSV = "age,income,city,churned\n" + "".join(
    f"{20 + i % 40},{1000 + 37 * i},{['Seoul', 'Busan', 'Incheon'][i % 3]},{i % 2}\n"
    for i in range(120)
)
OTHER_CSV = "height,weight,label\n" + "".join(
    f"{150 + i},{50 + i % 30},{i % 3}\n" for i in range(40)
)


def _scenario(gateway: RunningGateway, name: str) -> str:
    with gateway.client() as admin:
        created = admin.post(
            "/api/scenarios",
            json={"name": name, "task_type": "classification", "deployment_policy": "manual"},
        )
        assert created.status_code == 201, created.text
        return created.json()["id"]


def test_home_and_scenarios_create_edit_delete(signed_in, visit, gateway: RunningGateway) -> None:
    page = signed_in
    cookie = next(c for c in page.context.cookies() if c["name"] == "mloop_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    assert cookie["value"] != gateway.admin_key
    # the session alone cannot change anything: the CSRF header is needed
    refused = page.request.post("/api/scenarios", data={"name": "x", "task_type": "regression"})
    assert refused.status == 403

    visit(page, "/")
    expect(page.locator('[data-count="scenarios"] .value')).to_have_text(re.compile(r"^\d"))
    expect(page.locator("#recent-runs")).not_to_contain_text("Loading")

    visit(page, "/scenarios")
    page.click("#new-scenario")
    page.fill("#f-name", "   ")
    page.click("#save-scenario")
    expect(page.locator('.field-error[data-for="name"]')).not_to_be_empty()
    visit.shot(page, "scenario-validation")
    page.fill("#f-name", "churn web")
    page.select_option("#f-task", "classification")
    page.fill("#f-tags", "web, test")
    page.select_option("#f-policy", "manual")
    page.click("#save-scenario")
    expect(page.locator("#scenarios-notice")).to_contain_text("churn web")
    row = page.locator("tr", has=page.locator('a[data-scenario="churn web"]'))
    expect(row).to_contain_text("web, test")

    page.click('button[data-edit="churn web"]')
    page.fill("#f-name", "churn web 2")
    page.fill("#f-metric", "f1_macro")
    page.click("#save-scenario")
    expect(page.locator('a[data-scenario="churn web 2"]')).to_be_visible()
    page.click('a[data-scenario="churn web 2"]')
    page.wait_for_load_state("networkidle")
    expect(page.locator("#scenario-name")).to_have_text("churn web 2")
    expect(page.locator("#scenario-facts")).to_contain_text("f1_macro")
    visit.shot(page, "scenario-overview")

    visit(page, "/scenarios")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('button[data-delete="churn web 2"]')
    expect(page.locator("#scenarios-notice")).to_contain_text("deleted")
    expect(page.locator('a[data-scenario="churn web 2"]')).to_have_count(0)


def test_upload_preview_profile_and_feature_sets(signed_in, visit, gateway: RunningGateway) -> None:
    page = signed_in
    sid = _scenario(gateway, "web data")
    visit(page, f"/scenarios/{sid}/data")
    page.set_input_files(
        "#u-file", files=[{"name": "churn.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.fill("#u-target", "churned")
    page.click("#upload-button")
    expect(page.locator("#upload-progress")).to_be_visible()
    expect(page.locator("#upload-progress-label")).to_contain_text("churn.csv version 1")
    assert page.locator("#upload-progress .bar").evaluate("bar => bar.style.width") == "100%"
    expect(page.locator("#dataset-preview table tbody tr")).to_have_count(50)
    expect(page.locator("#dataset-preview")).to_contain_text("Seoul")
    page.click("#tab-profile")
    expect(page.locator('[data-histogram="age"] .main-svg').first).to_be_visible(timeout=30_000)
    expect(page.locator('[data-histogram="city"] .main-svg').first).to_be_visible()
    expect(page.locator("#dataset-profile table")).to_contain_text("categorical")
    visit.shot(page, "profile")

    with gateway.client() as admin:
        other = admin.post(
            f"/api/scenarios/{sid}/data",
            files={"file": ("body.csv", OTHER_CSV.encode(), "text/csv")},
        )
        assert other.status_code == 201, other.text
    visit(page, f"/scenarios/{sid}/feature-sets")
    dataset = page.locator("#fs-dataset")
    dataset.select_option(label="churn.csv v1")
    expect(page.locator("#fs-features input")).to_have_count(4)
    page.select_option("#fs-target", "churned")
    expect(page.locator('#fs-features input[value="churned"]')).to_be_disabled()
    dataset.select_option(label="body.csv v1")
    expect(page.locator("#fs-features input")).to_have_count(3)
    expect(page.locator("#fs-target option")).to_contain_text(["(no target)", "height"])
    dataset.select_option(label="churn.csv v1")
    page.select_option("#fs-target", "churned")
    page.uncheck('#fs-features input[value="city"]')
    page.click("#fs-save")
    expect(page.locator('.field-error[data-for="name"]')).not_to_be_empty()
    page.fill("#fs-name", "basic")
    page.click("#fs-save")
    expect(page.locator("#features-notice")).to_contain_text("basic v1")
    expect(page.locator("#feature-list")).to_contain_text("age, income")
    visit.shot(page, "feature-set")
    with gateway.client() as admin:
        sets = admin.get(f"/api/scenarios/{sid}/feature-sets").json()["items"]
    assert [(s["target"], s["features"]) for s in sets] == [("churned", ["age", "income"])]


def test_korean_and_a_viewer_sees_no_change_buttons(
    page, sign_in, visit, gateway: RunningGateway
) -> None:
    sid = _scenario(gateway, "web viewer")
    with gateway.client() as admin:
        viewer = admin.post("/api/keys", json={"name": "web viewer", "role": "viewer"}).json()
    sign_in(page, viewer["key"])
    visit(page, "/scenarios")
    expect(page.locator(f'a[href="/scenarios/{sid}"]')).to_be_visible()
    expect(page.locator("#new-scenario")).to_have_count(0)
    expect(page.locator("button[data-edit], button[data-delete]")).to_have_count(0)
    visit(page, f"/scenarios/{sid}/data")
    expect(page.locator("#upload-form")).to_have_count(0)
    visit(page, f"/scenarios/{sid}/feature-sets")
    expect(page.locator("#feature-form")).to_have_count(0)

    page.click('[data-lang-switch="ko"]')
    page.wait_for_load_state("networkidle")
    assert re.search(r"/scenarios/[^/]+/feature-sets$", page.url)
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("h1")).to_have_text("특성 세트")
    expect(page.locator(".sidenav")).to_contain_text("모니터링")
    visit(page, "/")
    expect(page.locator("h1")).to_have_text("홈")
    page.click('[data-lang-switch="en"]')
    page.wait_for_load_state("networkidle")
    expect(page.locator("h1")).to_have_text("Home")
    page.click("#sign-out")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/login")
    assert not [c for c in page.context.cookies() if c["name"] == "mloop_session"]
