"""Workflow definitions: the YAML language, normalisation, and every refusal with its place."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest
from mloop_common.workflows import recipe
from mloop_common.workflows.errors import WorkflowError
from mloop_common.workflows.spec import ScenarioFacts, WorkflowSpec, parse

FACTS = ScenarioFacts(
    task_type="classification",
    data_paths={"data/raw.csv": ["a", "b", "label"], "other.csv": ["x"]},
    default_data_path="data/raw.csv",
    default_target="label",
)

ISSUE_EXAMPLE = """\
steps:
  - name: preprocess
    type: data_preprocessing
    config: {inputPath: "data/raw.csv", outputPath: "data/processed.csv"}
  - name: train
    type: model_training
    needs: [preprocess]
    config: {algorithm: lightgbm, parameters: {learningRate: 0.1, numLeaves: 31}}
"""

FULL = """\
description: prepare, train, gate, deploy, tell
steps:
  - name: tell
    type: notification
    needs: [deploy]
    config:
      url: https://hooks.example.com/mloop
      events: [succeeded, failed]
      message: done
  - name: deploy
    type: deployment
    needs: [gate]
    config: {when: gates, policy: manual}
  - name: gate
    type: evaluation
    needs: [train]
    config:
      gates:
        - accuracy >= 0.8
        - 0.5 < f1_macro
        - {metric: log_loss, op: "<=", value: 1}
  - name: train
    type: model_training
    needs: [prep]
    retries: 3
    config:
      algorithm: random_forest
      parameters: {nEstimators: 50, max_depth: 4}
      target: label
      features: [a, ratio]
      resources: {cpuCores: 2, memoryGb: 1}
      evaluation: {holdout: 0.3, cvFolds: 0}
  - name: prep
    type: data_preprocessing
    config:
      input_path: data/raw.csv
      outputPath: data/prepared.csv
      impute: {a: median, b: 0}
      derive: {ratio: "a / b", big: "ratio > 2"}
      filter: "b >= 1 and not big"
      select: [a, ratio, label]
"""


def problems(kind: str, text: str, facts: ScenarioFacts | None = FACTS) -> list[dict]:
    with pytest.raises(WorkflowError) as caught:
        parse(kind, textwrap.dedent(text), facts=facts)
    return caught.value.problems


def one(kind: str, text: str, facts: ScenarioFacts | None = FACTS) -> dict:
    found = problems(kind, text, facts)
    assert len(found) == 1, found
    return found[0]


def test_the_issue_example_is_accepted_and_normalised() -> None:
    spec = parse("train", ISSUE_EXAMPLE, facts=FACTS, default_retries=2)
    assert spec.to_json() == {
        "steps": [
            {
                "name": "preprocess",
                "type": "data_preprocessing",
                "needs": [],
                "retries": 2,
                "config": {
                    "input_path": "data/raw.csv",
                    "output_path": "data/processed.csv",
                    "select": None,
                    "filter": None,
                    "impute": {},
                    "derive": {},
                },
            },
            {
                "name": "train",
                "type": "model_training",
                "needs": ["preprocess"],
                "retries": 2,
                "config": {
                    "algorithm": "lightgbm",
                    "parameters": {"learning_rate": 0.1, "num_leaves": 31},
                    "target": None,
                    "features": None,
                    "data_path": "data/processed.csv",
                    "resources": None,
                    "evaluation": None,
                },
            },
        ]
    }


def test_a_full_workflow_in_any_order_comes_out_topologically_sorted() -> None:
    spec = parse("train", FULL, facts=FACTS)
    assert [step.name for step in spec.steps] == ["prep", "train", "gate", "deploy", "tell"]
    train = spec.step("train")
    assert train.retries == 3
    assert train.config["parameters"] == {"n_estimators": 50, "max_depth": 4}
    assert train.config["resources"]["cpu_cores"] == 2
    assert train.config["evaluation"]["holdout"] == 0.3
    assert train.config["data_path"] == "data/prepared.csv"
    assert spec.step("gate").config["gates"] == [
        {"metric": "accuracy", "op": ">=", "value": 0.8},
        {"metric": "f1_macro", "op": ">", "value": 0.5},
        {"metric": "log_loss", "op": "<=", "value": 1.0},
    ]
    assert spec.step("deploy").config == {"when": "gates", "policy": "manual"}
    assert spec.ancestors("deploy") == ["prep", "train", "gate"]
    assert spec.dependents("train") == ["gate", "deploy", "tell"]
    again = WorkflowSpec.from_json(spec.to_json())
    assert again == spec


def test_without_scenario_facts_names_are_snake_cased() -> None:
    spec = parse("train", ISSUE_EXAMPLE)
    assert spec.step("train").config["parameters"] == {"learning_rate": 0.1, "num_leaves": 31}
    assert spec.step("preprocess").config["input_path"] == "data/raw.csv"


def test_default_input_path_is_the_scenarios() -> None:
    spec = parse(
        "train",
        """\
        steps:
          - {name: p, type: data_preprocessing, config: {outputPath: out.csv, select: [a]}}
        """.replace("        ", ""),
        facts=FACTS,
    )
    assert spec.steps[0].config["input_path"] == "data/raw.csv"


def test_yaml_syntax_errors_carry_their_mark() -> None:
    found = one("train", "steps:\n  - name: a\n    type: [model_training\n")
    assert found["path"] == "" and found["line"] == 4 and "YAML syntax error" in found["message"]
    found = one("train", "steps:\n  - name: a\n   bad: indent\n")
    assert found["line"] == 3


@pytest.mark.parametrize(
    ("text", "path", "line", "column", "message"),
    [
        ("", "", 1, 1, "empty"),
        ("steps: []", "steps", 1, 8, "non-empty list"),
        ("- a\n- b", "", 1, 1, "a workflow is a mapping"),
        ("steps: [1]", "steps[0]", 1, 9, "a step is a mapping"),
        (
            "steps: [{name: a, type: notification, config: {url: 'http://h'}}]\nstepz: []",
            "stepz",
            2,
            1,
            "unknown key 'stepz'",
        ),
        ("steps:\n  - {name: a, type: magic}", "steps[0].type", 2, 21, "unknown step type 'magic'"),
        (
            "steps:\n  - {type: notification, config: {url: 'http://h'}}",
            "steps[0]",
            2,
            5,
            "a step needs a name",
        ),
        (
            "steps:\n  - {name: 1a, type: notification, config: {url: 'http://h'}}",
            "steps[0].name",
            2,
            12,
            "a step name",
        ),
        (
            "steps:\n  - {name: a, type: notification, config: {url: 'http://h'}, when: x}",
            "steps[0].when",
            2,
            62,
            "unknown key 'when'",
        ),
        (
            "steps:\n  - {name: a, type: notification, retries: -1, config: {url: 'http://h'}}",
            "steps[0].retries",
            2,
            44,
            "retries must be",
        ),
        (
            "steps: [{name: a, type: notification, config: {url: ftp://x}}]",
            "steps[0].config.url",
            1,
            53,
            "http or https",
        ),
    ],
)
def test_structural_refusals(text: str, path: str, line: int, column: int, message: str) -> None:
    found = one("train", text)
    assert (found["path"], found["line"], found["column"]) == (path, line, column), found
    assert message in found["message"]


def test_duplicate_names_unknown_needs_and_duplicate_keys() -> None:
    found = problems(
        "train",
        """\
        steps:
          - name: a
            type: notification
            config: {url: "http://h"}
          - name: a
            type: notification
            config: {url: "http://h"}
          - name: b
            type: notification
            needs: [a, ghost]
            config: {url: "http://h"}
        """,
    )
    assert [(p["path"], p["line"], p["column"]) for p in found] == [
        ("steps[1].name", 5, 11),
        ("steps[2].needs[1]", 10, 16),
    ]
    assert "used by steps[0]" in found[0]["message"]
    assert "unknown step 'ghost'" in found[1]["message"]
    found = one("train", "steps:\n  - name: a\n    name: b\n")
    assert found["line"] == 3 and "given twice" in found["message"]


def test_cycles_are_reported_with_their_path() -> None:
    found = one(
        "train",
        """\
        steps:
          - {name: a, type: notification, needs: [c], config: {url: "http://h"}}
          - {name: b, type: notification, needs: [a], config: {url: "http://h"}}
          - {name: c, type: notification, needs: [b], config: {url: "http://h"}}
        """,
    )
    assert found["path"] == "steps[1].needs[0]" and (found["line"], found["column"]) == (3, 43)
    assert "a → c → b → a" in found["message"]
    found = one(
        "train", "steps:\n  - {name: a, type: notification, needs: a, config: {url: 'http://h'}}"
    )
    assert "a → a" in found["message"]


def test_expression_errors_point_inside_the_string() -> None:
    found = problems(
        "train",
        """\
        steps:
          - name: p
            type: data_preprocessing
            config:
              outputPath: out.csv
              derive:
                c: a + * b
                d: "lower(b) $"
                e: 'a + zz'
              filter: |
                a > 1
        """,
    )
    by_path = {p["path"]: p for p in found}
    assert (
        by_path["steps[0].config.derive.c"]["line"],
        by_path["steps[0].config.derive.c"]["column"],
    ) == (7, 16)
    assert (
        by_path["steps[0].config.derive.d"]["line"],
        by_path["steps[0].config.derive.d"]["column"],
    ) == (8, 22)
    assert "unexpected character '$'" in by_path["steps[0].config.derive.d"]["message"]
    assert "unknown column 'zz'" in by_path["steps[0].config.derive.e"]["message"]
    assert (
        by_path["steps[0].config.derive.e"]["line"],
        by_path["steps[0].config.derive.e"]["column"],
    ) == (9, 17)
    assert len(found) == 3  # the filter, a block scalar, is fine


def test_unknown_columns_in_expressions_are_named_with_their_column() -> None:
    found = one(
        "train",
        """\
        steps:
          - name: p
            type: data_preprocessing
            config:
              outputPath: out.csv
              derive: {c: "a + zz"}
        """,
    )
    assert found["path"] == "steps[0].config.derive.c"
    assert (found["line"], found["column"]) == (6, 24)
    assert "unknown column 'zz'" in found["message"] and "known: a, b, label" in found["message"]


def test_columns_flow_from_step_to_step() -> None:
    text = """\
    steps:
      - name: p
        type: data_preprocessing
        config: {outputPath: p.csv, derive: {c: "a * 2"}, select: [c, label]}
      - name: q
        type: data_preprocessing
        needs: [p]
        config: {inputPath: p.csv, outputPath: q.csv, derive: {d: "c + a"}}
    """
    found = one("train", text)
    assert found["path"] == "steps[1].config.derive.d" and "unknown column 'a'" in found["message"]
    found = one("train", text.replace("        needs: [p]\n", "").replace("c + a", "c"))
    assert found["path"] == "steps[1].config.inputPath"
    assert "written by step 'p': add it to needs" in found["message"]


def test_scenario_checks() -> None:
    found = problems(
        "train",
        """\
        steps:
          - name: p
            type: data_preprocessing
            config: {inputPath: missing.csv, outputPath: ../x.csv, impute: {nope: mean}}
          - name: t
            type: model_training
            config:
              algorithm: isolation_forest
          - name: u
            type: model_training
            config: {algorithm: lightgbm, parameters: {numLeaves: 1, wat: 2}, target: nope}
          - name: g
            type: evaluation
            needs: [u]
            config: {gates: ["rmse < 3"]}
        """,
        facts=ScenarioFacts(
            task_type="classification",
            data_paths={"data/raw.csv": ["a"]},
            clean_path=_clean,
        ),
    )
    messages = {p["path"]: p["message"] for p in found}
    assert "'..' segment" in messages["steps[0].config.outputPath"]
    assert "unknown algorithm 'isolation_forest'" in messages["steps[1].config.algorithm"]
    assert "at least 2" in messages["steps[2].config.parameters.numLeaves"]
    assert "unknown parameter 'wat'" in messages["steps[2].config.parameters.wat"]
    assert "unknown metric 'rmse'" in messages["steps[3].config.gates[0]"]


def _clean(path: str) -> str:
    if ".." in path.split("/"):
        raise ValueError("the path has an empty, '.' or '..' segment")
    return path


def test_missing_input_path_and_missing_step_links() -> None:
    found = one(
        "train",
        "steps:\n  - {name: p, type: data_preprocessing, "
        "config: {inputPath: nope.csv, outputPath: o.csv}}",
    )
    assert "no data path 'nope.csv'" in found["message"] and found["path"].endswith("inputPath")
    found = problems("train", "steps:\n  - {name: d, type: deployment}")
    assert [p["path"] for p in found] == ["steps[0].needs", "steps[0].needs"]
    assert "model_training" in found[0]["message"] and "evaluation" in found[1]["message"]
    found = problems(
        "train",
        "steps:\n  - {name: t, type: model_training}\n  - {name: d, type: deployment, needs: [t]}",
    )
    assert "evaluation" in found[0]["message"]
    assert parse(
        "train",
        "steps:\n  - {name: t, type: model_training}\n"
        "  - {name: d, type: deployment, needs: [t], config: {when: always}}",
        facts=FACTS,
    )


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ("{gates: []}", "steps[1].config.gates", "non-empty list"),
        ("{gates: ['accuracy']}", "steps[1].config.gates[0]", "compares one metric"),
        ("{gates: ['accuracy >= f1_macro']}", "steps[1].config.gates[0]", "compares one metric"),
        (
            "{gates: [{metric: accuracy, op: '=>', value: 1}]}",
            "steps[1].config.gates[0].op",
            "op must be",
        ),
        ("{gates: [{metric: accuracy, op: '>='}]}", "steps[1].config.gates[0]", "missing: value"),
        ("{}", "steps[1].config", "needs gates"),
    ],
)
def test_gate_refusals(config: str, path: str, message: str) -> None:
    found = one(
        "train",
        f"steps:\n  - {{name: t, type: model_training}}\n"
        f"  - {{name: e, type: evaluation, needs: [t], config: {config}}}",
    )
    assert found["path"] == path and message in found["message"], found


def test_config_type_errors() -> None:
    found = problems(
        "train",
        """\
        steps:
          - name: p
            type: data_preprocessing
            config:
              outputPath: o.csv
              select: a
              impute: {a: [1]}
              derive: {c: 3}
          - name: t
            type: model_training
            config: {parameters: [1], features: [a, a], resources: {cpuCores: 0, disk: 1}}
          - name: n
            type: notification
            config: {url: "http://h", events: [], message: 3}
          - name: d
            type: deployment
            config: {when: sometimes}
            needs: [t]
        """,
    )
    paths = [p["path"] for p in found]
    assert paths == [
        "steps[0].config.select",
        "steps[0].config.impute.a",
        "steps[0].config.derive.c",
        "steps[1].config.parameters",
        "steps[1].config.features[1]",
        "steps[1].config.resources.disk",
        "steps[1].config.resources.cpuCores",
        "steps[2].config.events",
        "steps[2].config.message",
        "steps[3].config.when",
        "steps[3].needs",  # when: gates (the default) needs an evaluation step
    ]


def test_camel_and_snake_of_the_same_key_conflict() -> None:
    found = one(
        "train",
        "steps:\n  - {name: p, type: data_preprocessing, "
        "config: {outputPath: o.csv, output_path: p.csv}}",
    )
    assert "are the same key" in found["message"] and found["column"] == 69


def test_predict_workflows_transform_records_only() -> None:
    spec = parse(
        "predict",
        """\
        steps:
          - name: clean
            type: data_preprocessing
            config: {impute: {a: 0}, derive: {ratio: "a / b"}}
          - name: pick
            type: data_preprocessing
            needs: [clean]
            config: {select: [a, ratio]}
        """.replace("        ", ""),
        facts=FACTS,
    )
    assert [s.name for s in spec.steps] == ["clean", "pick"]
    records = recipe.apply_records(
        [{"a": None, "b": 2, "c": 1}, {"a": 3, "b": 0, "c": 1}], [s.config for s in spec.steps]
    )
    assert records == [{"a": 0.0, "ratio": 0.0}, {"a": 3.0, "ratio": None}]
    found = problems(
        "predict",
        """\
        steps:
          - {name: t, type: model_training}
          - {name: p, type: data_preprocessing, config: {filter: "a > 1", outputPath: o.csv}}
        """,
    )
    assert [p["path"] for p in found] == [
        "steps[0].type",
        "steps[1].config.filter",
        "steps[1].config.outputPath",
    ]
    assert "data_preprocessing steps only" in found[0]["message"]
    assert "cannot filter" in found[1]["message"]


def test_hostile_yaml_is_refused() -> None:
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\nsteps: []"
    assert "anchors and aliases" in one("train", bomb)["message"]
    assert "not supported" in one("train", "steps: !!python/object:os.system [1]")["message"]
    assert "larger than" in one("train", "steps: []\n" + "#" * 300_000)["message"]
    deep = "steps: " + "[" * 200 + "]" * 200
    assert "nested" in one("train", deep)["message"]
    too_many = "steps:\n" + "".join(
        f"  - {{name: s{i}, type: notification, config: {{url: 'http://h'}}}}\n" for i in range(51)
    )
    assert "at most 50 steps" in one("train", too_many)["message"]


def test_recipe_applies_in_a_fixed_order() -> None:
    frame = pd.DataFrame(
        {"a": [1.0, None, 3.0, 4.0], "b": [1, 2, 0, 4], "s": ["x", None, "y", "x"]}
    )
    spec = parse("train", FULL, facts=FACTS)
    config = spec.step("prep").config
    out = recipe.apply(frame.rename(columns={"s": "label"}), config)
    assert list(out.columns) == ["a", "ratio", "label"]
    # a's missing value gets the median 3; ratio = a / b; rows with b < 1 or ratio > 2 go
    assert out["a"].tolist() == [1.0, 3.0, 4.0] and out["ratio"].tolist() == [1.0, 1.5, 1.0]
    assert out["label"].isna().tolist() == [False, True, False]
    with pytest.raises(recipe.RecipeError, match="unknown column 'zz'"):
        recipe.apply(frame, {"derive": {"c": "zz + 1"}})
    with pytest.raises(recipe.RecipeError, match="needs a numeric column"):
        recipe.apply(frame, {"impute": {"s": "mean"}})
    with pytest.raises(recipe.RecipeError, match="needs a number"):
        recipe.apply(frame, {"impute": {"a": "zero"}})
    assert recipe.apply(frame, {"impute": {"s": "mode"}})["s"].tolist() == ["x", "x", "y", "x"]
    assert recipe.apply(frame, {"impute": {"s": "none"}})["s"].tolist() == ["x", "none", "y", "x"]
