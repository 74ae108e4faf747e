"""Spec validation: every error names the file and the field; the project's specs/ all validate."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from runner.spec import CLUSTER_ONLY, PIPELINE_SPEC, SpecError, load_spec, load_specs, parse_spec

GOOD: dict[str, Any] = {
    "pipeline": {"name": "ingest"},
    "description": "one datum per symbol file",
    "input": {
        "cross": [
            {"pfs": {"name": "prices", "repo": "raw", "glob": "/*/*"}},
            {"pfs": {"name": "meta", "repo": "raw", "glob": "/symbols_valid_meta.csv"}},
        ]
    },
    "transform": {
        "image": "stockpipe/ingest:0.1.0",
        "cmd": ["python3", "-m", "stages.ingest", "--prices", "/pfs/prices", "--out", "/pfs/out"],
        "env": {"LOG_LEVEL": "INFO"},
    },
    "parallelismSpec": {"constant": 2},
    "resourceRequests": {"cpu": 1, "memory": "1Gi"},
    "datumTries": 2,
    "datumTimeout": "600s",
}


def errors_of(doc: Any, file: str = "specs/ingest.json") -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(doc, file)
    return info.value.problems


def modified(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    change(doc)
    return doc


def test_good_spec_parses_with_its_semantics() -> None:
    spec = parse_spec(GOOD, "specs/ingest.json")
    assert spec.name == "ingest"
    assert [p.name for p in spec.input.pfs_inputs()] == ["prices", "meta"]
    assert spec.input.operator == "cross"
    assert spec.parallelism == 2 and spec.datum_tries == 2 and spec.datum_timeout == 600.0
    assert spec.input_repos == ["raw"]
    assert spec.ignored == ("resourceRequests",)
    assert len(spec.spec_hash) == 32


def test_snake_case_keys_are_accepted_and_give_the_same_spec() -> None:
    snake = modified(
        lambda d: d.update(parallelism_spec=d.pop("parallelismSpec"), datum_tries=d.pop("datumTries"))
    )
    snake["resource_requests"] = snake.pop("resourceRequests")
    a, b = parse_spec(GOOD, "a.json"), parse_spec(snake, "a.json")
    assert a.raw == b.raw and a.spec_hash == b.spec_hash


def test_spec_hash_ignores_what_does_not_change_outputs() -> None:
    base = parse_spec(GOOD, "a.json").spec_hash
    assert parse_spec(modified(lambda d: d["parallelismSpec"].update(constant=8)), "a.json").spec_hash == base
    assert parse_spec(modified(lambda d: d.update(description="x")), "a.json").spec_hash == base
    changed_cmd = modified(lambda d: d["transform"]["cmd"].append("--fast"))
    assert parse_spec(changed_cmd, "a.json").spec_hash != base
    changed_glob = modified(lambda d: d["input"]["cross"][0]["pfs"].update(glob="/*"))
    assert parse_spec(changed_glob, "a.json").spec_hash != base


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d.update(parallelismSpecs={"constant": 1}),
            "parallelismSpecs: unknown field 'parallelismSpecs'",
        ),
        (lambda d: d["transform"].update(comand=["x"]), "transform.comand: unknown field 'comand'"),
        (
            lambda d: d["parallelismSpec"].update(constant="two"),
            "parallelismSpec.constant: must be an integer",
        ),
        (
            lambda d: d["parallelismSpec"].update(constant=True),
            "parallelismSpec.constant: must be an integer",
        ),
        (lambda d: d["transform"].update(cmd="python3 -m x"), "transform.cmd: must be a list"),
        (lambda d: d["transform"].update(env={"A": 1}), "transform.env.A: must be a string"),
        (lambda d: d.update(datumTries=1.5), "datumTries: must be an integer"),
        (lambda d: d.update(datumTries=-1), "datumTries: must not be negative"),
        (
            lambda d: d.update(datumTimeout="10m"),
            'datumTimeout: must be a protobuf duration such as "600s" or ".5s", got "10m"',
        ),
        (lambda d: d.update(datumTimeout=600), 'datumTimeout: must be a protobuf duration such as "600s"'),
        (lambda d: d.update(jobTimeout="1h"), "jobTimeout: must be a protobuf duration"),
        (lambda d: d["input"]["cross"][0]["pfs"].pop("glob"), "input.cross[0].pfs.glob: required"),
        (lambda d: d["input"]["cross"][1]["pfs"].pop("repo"), "input.cross[1].pfs.repo: required"),
        (
            lambda d: d["input"]["cross"][0]["pfs"].update(glob=""),
            "input.cross[0].pfs.glob: required",
        ),
        (
            lambda d: d["input"]["cross"][0].update(union=[{"pfs": {"repo": "a", "glob": "/"}}]),
            "input.cross[0]: multiple input types set (pfs and union)",
        ),
        (lambda d: d.update(input={}), "input: no input set"),
        (lambda d: d.update(input={"cross": []}), "input: no input set"),
        (
            lambda d: d["input"]["cross"][1]["pfs"].update(name="prices"),
            'input.cross[1].pfs.name: name "prices" was used more than once',
        ),
        (lambda d: d["input"]["cross"][1]["pfs"].pop("name"), None),  # meta → defaults to 'raw': still unique
        (
            lambda d: d["input"]["cross"][0]["pfs"].update(name="out"),
            "input.cross[0].pfs.name: input cannot be named out",
        ),
        (
            lambda d: d["pipeline"].update(name="x" * 52),
            "pipeline.name: pipeline name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is 1 "
            "characters longer than the 51 max",
        ),
        (
            lambda d: d["pipeline"].update(name="in gest"),
            "pipeline.name: invalid pipeline name: name (in gest) invalid: only alphanumeric",
        ),
        (
            lambda d: d["pipeline"].update(name="ingest.v2"),
            "only alphanumeric characters, underscores, and dashes are allowed",
        ),
        (lambda d: d.pop("pipeline"), "pipeline: no `pipeline` specified"),
        (lambda d: d.pop("transform"), "transform: pipeline must specify a transform"),
        (lambda d: d["transform"].pop("cmd"), "transform.cmd: required"),
        (lambda d: d.pop("input"), None),  # pachd takes a pipeline with no input
        (lambda d: d.update(resourceRequests={"cpus": 1}), "resourceRequests.cpus: unknown field"),
        (
            lambda d: d.update(service={"internalPort": 8000, "externalPort": 8000}),
            "service.externalPort: 8000 is outside",
        ),
        (lambda d: d.update(service={"externalPort": 30080}), "service.internalPort: required"),
        (
            lambda d: d.update(service={"internalPort": 8000, "type": "Ingress"}),
            "service.type: the following service type Ingress is not allowed",
        ),
        (
            lambda d: d.update(reprocessSpec="always"),
            "reprocessSpec: invalid pipeline spec: ReprocessSpec must be one of 'until_success' or "
            "'every_job'",
        ),
        (lambda d: d.update(description=["a"]), "description: must be a string, got a list"),
    ],
)
def test_each_invalid_spec_names_file_and_field(change: Any, expected: str | None) -> None:
    doc = modified(change)
    if expected is None:
        parse_spec(doc, "specs/ingest.json")
        return
    problems = errors_of(doc)
    assert any(p.startswith("specs/ingest.json: ") and expected in p for p in problems), problems


def test_exactly_the_example_message_of_the_brief() -> None:
    doc = modified(lambda d: d["input"]["cross"][0]["pfs"].pop("glob"))
    assert errors_of(doc) == ["specs/ingest.json: input.cross[0].pfs.glob: required"]


def test_all_problems_are_reported_at_once() -> None:
    doc = modified(lambda d: d.update(datumTimeout="5m", bogus=1, datumTries="three"))
    assert len(errors_of(doc)) == 3


def test_camel_and_snake_of_one_field_together_is_an_error() -> None:
    doc = modified(lambda d: d.update(datum_tries=2))
    assert "datumTries: given twice" in errors_of(doc)[0]


def test_union_branches_may_share_an_input_name() -> None:
    doc = modified(
        lambda d: d.update(
            input={
                "union": [
                    {"pfs": {"repo": "a", "glob": "/*", "name": "x"}},
                    {"pfs": {"repo": "b", "glob": "/*", "name": "x"}},
                ]
            }
        )
    )
    assert parse_spec(doc, "a.json").input.operator == "union"


def test_cluster_only_fields_are_accepted_and_listed() -> None:
    doc = modified(
        lambda d: d.update(
            resourceLimits={"cpu": 2, "memory": "2Gi", "gpu": {"type": "nvidia.com/gpu", "number": 1}},
            podPatch='[{"op": "add"}]',
            autoscaling=True,
            schedulingSpec={"nodeSelector": {"disk": "ssd"}},
            tolerations=[{"key": "k", "operator": "EXISTS"}],
            sidecarResourceRequests={"cpu": 0.5},
        )
    )
    spec = parse_spec(doc, "a.json")
    assert set(spec.ignored) >= {"resourceLimits", "podPatch", "autoscaling", "schedulingSpec", "tolerations"}


def test_service_pipeline_validates() -> None:
    doc = {
        "pipeline": {"name": "serve"},
        "input": {"pfs": {"repo": "train", "glob": "/"}},
        "transform": {"image": "stockpipe/api:0.1.0", "cmd": ["gunicorn", "api.wsgi:app"]},
        "service": {"type": "NodePort", "internalPort": 8000, "externalPort": 30080},
    }
    assert parse_spec(doc, "serve.json").is_service


def test_file_level_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"pipeline": ')
    with pytest.raises(SpecError, match=r"bad.json: line 1 column 14: invalid JSON"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(SpecError, match=r"list.json: no pipeline spec in this file"):
        load_spec(tmp_path / "list.json")
    (tmp_path / "number.json").write_text("[3]")
    with pytest.raises(SpecError, match=r"number.json: \(top level\): a spec must be an object"):
        load_spec(tmp_path / "number.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match=r"no \*\.json, \*\.yaml or \*\.yml spec files"):
        load_specs(tmp_path / "empty")


def test_two_files_with_one_pipeline_name(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps(GOOD))
    with pytest.raises(SpecError, match="'ingest' is also defined in"):
        load_specs(tmp_path)


def test_schema_matches_pachyderm_sdk() -> None:
    """The field names of the schema are those of pachyderm-sdk's CreatePipelineRequest."""
    pps = pytest.importorskip("pachyderm_sdk.api.pps")
    from runner.spec import INPUT, PFS_INPUT, TRANSFORM, camel

    for table, cls in ((PIPELINE_SPEC, pps.CreatePipelineRequest), (TRANSFORM, pps.Transform)):
        assert set(table) == {camel(f.name) for f in dataclasses.fields(cls)}
    assert set(INPUT) == {camel(f.name) for f in dataclasses.fields(pps.Input)}
    assert set(PFS_INPUT) == {camel(f.name) for f in dataclasses.fields(pps.PfsInput)}
    assert all(f.split(".")[0] in PIPELINE_SPEC for f in CLUSTER_ONLY)


def test_every_spec_of_the_project_validates(repo_root: Path) -> None:
    """specs/*.json (written by the other parts) all pass the runner's strict validation."""
    files = sorted((repo_root / "specs").glob("*.json"))
    if not files:
        pytest.skip("no specs/*.json yet")
    specs = load_specs(repo_root / "specs")
    assert {s.name for s in specs} == {f.stem for f in files}, "each spec file is named after its pipeline"
    for spec in specs:
        assert ":latest" not in spec.image and spec.image.endswith(":0.1.0"), spec.image
