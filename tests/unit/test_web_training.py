"""The training pages' pure parts: which runs `/scenarios/{id}/compare?runs=...` compares."""

from __future__ import annotations

import uuid

from mloop_gateway.web.pages_training import MAX_COMPARED, compared_runs


def test_compared_runs_keeps_order_and_drops_repeats() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert compared_runs(f"{a},{b}, {a},") == ([a, b], True)
    assert compared_runs(a.upper()) == ([a], True)


def test_compared_runs_refuses_what_it_cannot_use() -> None:
    assert compared_runs(None) == ([], False)
    assert compared_runs("") == ([], False)
    assert compared_runs("not-a-run") == ([], False)
    assert compared_runs(f"{uuid.uuid4()},x") == ([], False)
    many = ",".join(str(uuid.uuid4()) for _ in range(MAX_COMPARED + 1))
    assert compared_runs(many)[1] is False
    assert compared_runs("," * 10_000) == ([], False)
