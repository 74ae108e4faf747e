"""Specs read as pachctl reads them and refused where pachd refuses them.

Each test names the Pachyderm source (pachyderm/pachyderm at e237475e, its 2.x head) that fixes
the behaviour; docs/conformance.md lists them in one table.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from runner.spec import (
    SpecError,
    check_input_repos,
    clean_glob,
    input_repos,
    load_file_specs,
    load_specs,
    parse_duration,
    parse_spec,
    read_documents,
)

BASE: dict[str, Any] = {
    "pipeline": {"name": "copy"},
    "input": {"pfs": {"repo": "raw", "glob": "/*"}},
    "transform": {"image": "alpine:3.20", "cmd": ["sh", "-c", "cp -r /pfs/raw/. /pfs/out/"]},
}


def spec_with(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc.update(changes)
    return doc


def problems_of(doc: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(doc, "p.json")
    return info.value.problems


def refused_with(doc: Any, expected: str) -> None:
    problems = problems_of(doc)
    assert any(p.startswith("p.json: ") and expected in p for p in problems), problems


# --- reading files: src/internal/ppsutil/decoder.go ------------------------------------------------
def test_yaml_spec_reads_like_its_json(tmp_path: Path) -> None:
    """decoder.go SpecReader: YAML is read with gopkg.in/yaml.v3 and turned into the same JSON."""
    (tmp_path / "copy.yaml").write_text(
        "# a comment\npipeline:\n  name: copy\ninput:\n  pfs:\n    repo: raw\n    glob: /*\n"
        "transform:\n  image: alpine:3.20\n  cmd: [sh, -c, 'cp -r /pfs/raw/. /pfs/out/']\n"
    )
    (tmp_path / "copy.json").write_text(json.dumps(BASE))
    yaml_spec = load_file_specs(tmp_path / "copy.yaml")[0]
    json_spec = load_file_specs(tmp_path / "copy.json")[0]
    assert yaml_spec.raw == json_spec.raw and yaml_spec.spec_hash == json_spec.spec_hash


@pytest.mark.parametrize(
    "text",
    [
        # decoder_test.go "multiple specs work": YAML documents with --- and ... markers.
        '---\npipeline:\n  name: a\n...\n---\n{"pipeline": {"name": "b"}}\n',
        # decoder_test.go "lists work": a top-level sequence of specs.
        '- {"pipeline": {"name": "a"}}\n- {"pipeline": {"name": "b"}}',
        # A JSON list.
        '[{"pipeline": {"name": "a"}}, {"pipeline": {"name": "b"}}]',
        # A stream of JSON objects, as pachctl 1.x (src/server/pkg/ppsutil/util.go json.Decoder) read.
        '{"pipeline": {"name": "a"}}\n{"pipeline": {"name": "b"}}\n',
    ],
)
def test_several_specs_in_one_file(text: str) -> None:
    """decoder.go Next: a file holds a spec, a list of specs or several documents."""
    assert [d["pipeline"]["name"] for d in read_documents(text, "f")] == ["a", "b"]


def test_a_file_of_several_specs_and_a_folder_of_json_and_yaml(tmp_path: Path) -> None:
    """pachctl create/update pipeline -f (src/server/pps/cmds/cmds.go pipelineHelper loops over
    every spec of the file); the folder form, and .yaml/.yml beside .json, are the runner's."""
    two = [spec_with(pipeline={"name": "a"}), spec_with(pipeline={"name": "b"})]
    (tmp_path / "two.json").write_text("\n".join(json.dumps(d) for d in two))
    (tmp_path / "c.yml").write_text(
        "pipeline: {name: c}\ninput: {pfs: {repo: a, glob: /}}\ntransform: {cmd: [cat]}\n"
    )
    (tmp_path / "d.yaml").write_text("---\npipeline: {name: d}\ntransform: {cmd: [cat]}\n")
    (tmp_path / "notes.txt").write_text("not a spec")
    specs = load_specs(tmp_path)
    assert [s.name for s in specs] == ["c", "d", "a", "b"]
    assert specs[2].path == f"{tmp_path / 'two.json'} (spec 1)"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(two[0]) + "\n" + json.dumps({"pipeline": {"name": "x"}, "bogus": 1}))
    with pytest.raises(SpecError, match=r"broken.json \(spec 2\): bogus: unknown field 'bogus'"):
        load_specs(broken)


def test_schema_key_is_dropped_and_null_leaves_a_field_unset() -> None:
    """decoder.go yamlToJSON drops `$schema` (constants.JSONSchemaKey); protojson reads null as
    unset (decoder_test.go "null works": resourceRequests: null)."""
    doc = spec_with(**{"$schema": "https://example.com/x.schema.json", "resourceRequests": None})
    doc["transform"]["env"] = None
    doc["datumTries"] = None
    spec = parse_spec(doc, "p.json")
    assert "resourceRequests" not in spec.raw and "env" not in spec.raw["transform"]
    assert spec.datum_tries == 3
    refused_with(spec_with(transform={"cmd": ["a", None]}), "transform.cmd[1]: null is not allowed in a list")


@pytest.mark.parametrize(
    ("field", "value", "read_back"),
    [
        (("parallelismSpec", "constant"), "2", 2),  # uint64
        (("datumTries",), "4", 4),  # int64
        (("datumTries",), 4.0, 4),  # protojson takes a number with no fraction
        (("resourceRequests", "cpu"), "1", 1.0),  # float
        (("resourceRequests", "cpu"), 0.5, 0.5),
        (("service", "internalPort"), "8080", 8080),  # int32
    ],
)
def test_quoted_numbers_where_protojson_takes_them(
    field: tuple[str, ...], value: Any, read_back: Any
) -> None:
    """protobuf-go encoding/protojson/decode.go unmarshalInt/unmarshalUint/unmarshalFloat take a
    number or a string holding exactly one JSON number."""
    doc = spec_with()
    if field[0] == "service":
        doc["service"] = {"internalPort": value, "externalPort": 30080}
    else:
        node = doc
        for part in field[:-1]:
            node = node.setdefault(part, {})
        node[field[-1]] = value
    raw = parse_spec(doc, "p.json").raw
    for part in field:
        raw = raw[part]
    assert raw == read_back and type(raw) is type(read_back)


def test_accept_return_code_entries_may_be_quoted() -> None:
    """pps.proto Transform.accept_return_code is repeated int64: each entry as unmarshalInt takes it."""
    doc = spec_with()
    doc["transform"]["acceptReturnCode"] = ["1", 2, "3"]
    assert parse_spec(doc, "p.json").accept_return_codes == (1, 2, 3)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (("parallelismSpec", "constant"), "-1", "-1 is out of range for a protobuf uint64"),
        (("parallelismSpec", "constant"), " 2", "must be an integer"),  # protojson refuses padding
        (("datumTries",), "2.5", "must be an integer"),
        (("datumTries",), True, "must be an integer"),
        (("resourceRequests", "cpu"), "one", "must be a number"),
        (("autoscaling",), "true", "must be true or false"),  # no quoted booleans
    ],
)
def test_numbers_protojson_refuses(field: tuple[str, ...], value: Any, expected: str) -> None:
    """protojson decode.go: no padding, no fraction in an integer, no quoted booleans, no sign
    below an unsigned type."""
    doc = spec_with()
    node = doc
    for part in field[:-1]:
        node = node.setdefault(part, {})
    node[field[-1]] = value
    refused_with(doc, f"{'.'.join(field)}: {expected}")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("600s", 600.0), ("1.5s", 1.5), (".5s", 0.5), ("0s", 0.0), ("-2s", -2.0), ("5.s", 5.0)],
)
def test_durations_protojson_takes(text: str, seconds: float) -> None:
    """protobuf-go encoding/protojson/well_known_types.go parseDuration."""
    assert parse_duration(text) == seconds
    assert parse_spec(spec_with(datumTimeout=text), "p.json").datum_timeout == seconds


@pytest.mark.parametrize("text", ["10m", "600", "01s", "1.0000000001s", "s", "+s", "1e3s", " 1s", "1 s"])
def test_durations_protojson_refuses(text: str) -> None:
    """parseDuration: a trailing s, no leading zero, at most 9 fractional digits, no exponent."""
    assert parse_duration(text) is None
    refused_with(spec_with(jobTimeout=text), "jobTimeout: must be a protobuf duration")


@pytest.mark.parametrize(
    ("glob", "cleaned"),
    [("*", "/*"), ("/*", "/*"), ("a/*/", "/a/*"), ("", "/"), ("//x//y", "/x/y"), ("/", "/")],
)
def test_glob_is_cleaned_as_pachd_does(glob: str, cleaned: str) -> None:
    """api_server.go setInputDefaults: input.Pfs.Glob = pfsfile.CleanPath(glob)
    (src/internal/pfsfile/pfsfile.go: "abc" -> "/abc", "abc/" -> "/abc")."""
    assert clean_glob(glob) == cleaned
    if glob:
        spec = parse_spec(spec_with(input={"pfs": {"repo": "raw", "glob": glob}}), "p.json")
        assert spec.input.pfs.glob == cleaned and spec.raw["input"]["pfs"]["glob"] == cleaned


def test_input_name_with_a_dot_and_a_spec_with_no_input() -> None:
    """ppsutil/util.go validateName only refuses "", "out" and ".env"; pps.VisitInput takes a
    nil input (api_server.go validateInput)."""
    spec = parse_spec(spec_with(input={"pfs": {"name": "raw.v2", "repo": "raw", "glob": "/"}}), "p.json")
    assert spec.input.pfs.name == "raw.v2"
    no_input = spec_with()
    del no_input["input"]
    assert parse_spec(no_input, "p.json").input is None
    refused_with(
        spec_with(input={"pfs": {"name": ".env", "repo": "raw", "glob": "/"}}), "input cannot be named .env"
    )


def test_enum_numbers_are_read_as_their_names() -> None:
    """protojson decode.go unmarshalEnum: an enum is its name or its number (pps.proto
    TolerationOperator EMPTY=0 EXISTS=1 EQUAL=2; TaintEffect ... NO_EXECUTE=3)."""
    doc = spec_with(tolerations=[{"key": "k", "operator": 1, "effect": 3, "tolerationSeconds": "30"}])
    toleration = parse_spec(doc, "p.json").raw["tolerations"][0]
    assert toleration == {"key": "k", "operator": "EXISTS", "effect": "NO_EXECUTE", "tolerationSeconds": 30}


# --- what pachd refuses: src/server/pps/server/api_server.go --------------------------------------
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # validatePipeline: "pipeline names must start with an alphanumeric character"
        (lambda d: d.update(pipeline={"name": "-copy"}), "pipeline names must start with an alphanumeric"),
        (lambda d: d.update(pipeline={"name": "_copy"}), "pipeline names must start with an alphanumeric"),
        # validatePipelineRequest: tfJob
        (
            lambda d: d.update(tfJob={"tfJob": "{}"}),
            "tfJob: embedding TFJobs in pipelines is not supported yet",
        ),
        # validateInput: pfs.commit
        (
            lambda d: d["input"]["pfs"].update(commit="abc"),
            "input.pfs.commit: input cannot come from a commit; use a branch",
        ),
        # validateInput: s3 inputs expose whole commits
        (
            lambda d: d["input"]["pfs"].update(s3=True),
            "input.pfs.glob: inputs that set 's3' to 'true' must also set 'glob', to \"/\"",
        ),
        (
            lambda d: d.update(
                input={
                    "join": [
                        {"pfs": {"repo": "a", "glob": "/", "s3": True}},
                        {"pfs": {"repo": "b", "glob": "/"}},
                    ]
                }
            ),
            "input.join: S3 inputs in join expressions are not supported",
        ),
        # validatePipeline: services
        (
            lambda d: d.update(
                service={"internalPort": 80, "externalPort": 30080}, parallelismSpec={"constant": 2}
            ),
            "parallelismSpec.constant: services can only be run with a constant parallelism of 1",
        ),
        # validatePipelineRequest: s3Out
        (
            lambda d: d.update(service={"internalPort": 80, "externalPort": 30080}, s3Out=True),
            "s3Out: s3 output is not supported in spouts or services",
        ),
        # validatePipeline: a spout without a service has no input
        (lambda d: d.update(spout={}), "input: spout pipelines (without a service) must not have an input"),
        # validatePipelineRequest: spouts and autoscaling
        (
            lambda d: (d.pop("input"), d.update(spout={}, autoscaling=True)),
            "autoscaling: autoscaling can't be used with spouts",
        ),
        # validateInput → cronutil.ParseCronExpression
        (
            lambda d: d.update(input={"cron": {"name": "tick", "spec": "every minute"}}),
            "input.cron.spec: error parsing cron-spec: Expected exactly 5 fields, found 2: every minute",
        ),
        # pfs.proto Trigger: the field is cron_spec (protojson refuses an unknown field)
        (
            lambda d: d["input"]["pfs"].update(trigger={"cron": "@every 1m"}),
            "input.pfs.trigger.cron: unknown field 'cron' (known: all, branch, commits, cronSpec",
        ),
        # pps.proto Egress: the field is URL
        (
            lambda d: d.update(egress={"url": "s3://bucket/out"}),
            "egress.url: unknown field 'url' (known: URL,",
        ),
        (
            lambda d: d.update(egress={"objectStorage": {"url": "s3://a"}, "sqlDatabase": {"url": "x"}}),
            "egress: objectStorage and sqlDatabase are one protobuf oneof",
        ),
        # protojson unmarshalEnum: names are exact (pps.proto TolerationOperator)
        (
            lambda d: d.update(tolerations=[{"key": "k", "operator": "Exists"}]),
            'tolerations[0].operator: must be one of EMPTY, EXISTS, EQUAL or its number, got "Exists"',
        ),
        (
            lambda d: d.update(tolerations=[{"key": "k", "operator": "EXISTS", "effect": "NoSchedule"}]),
            "tolerations[0].effect: must be one of ALL_EFFECTS, NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE",
        ),
        (
            lambda d: d.update(egress={"sqlDatabase": {"url": "x", "fileFormat": {"type": "csv"}}}),
            "egress.sqlDatabase.fileFormat.type: must be one of UNKNOWN, CSV, JSON, PARQUET",
        ),
        # worker_rc.go transformToleration: EMPTY (or no operator) is refused
        (
            lambda d: d.update(tolerations=[{"key": "k"}]),
            "tolerations[0].operator: toleration 1/1: cannot omit key/value comparison operator",
        ),
        # validatePipeline: PodPatch / PodSpec must be JSON
        (lambda d: d.update(podPatch="op: add"), "podPatch: malformed PodPatch"),
        (lambda d: d.update(podSpec="{"), "podSpec: malformed PodSpec"),
        # validateSecret: an env var needs the secret's key
        (
            lambda d: d["transform"].update(secrets=[{"name": "creds", "envVar": "TOKEN"}]),
            "transform.secrets[0].key: secret creds has env_var set but is missing key",
        ),
    ],
    ids=[
        "name-starts-with-dash",
        "name-starts-with-underscore",
        "tfJob",
        "pfs-commit",
        "s3-glob",
        "s3-in-join",
        "service-parallelism",
        "service-s3Out",
        "spout-with-input",
        "spout-autoscaling",
        "cron-spec",
        "trigger-cron",
        "egress-url",
        "egress-oneof",
        "toleration-operator-spelling",
        "toleration-effect-spelling",
        "sql-file-format-spelling",
        "toleration-operator-empty",
        "podPatch-not-json",
        "podSpec-not-json",
        "secret-env-var-without-key",
    ],
)
def test_pachd_refuses_with_its_reason(change: Any, expected: str) -> None:
    """src/server/pps/server/api_server.go validatePipelineRequest, validatePipeline, validateInput."""
    doc = spec_with()
    change(doc)
    refused_with(doc, expected)


def test_name_length_counts_the_project() -> None:
    """api_server.go validatePipelineRequest: maxPipelineNameLength = 51, and the worker RC name
    ppsutil.PipelineRcName ("<project>-<name>-v99", '_' → '-') must fit dnsLabelLimit = 63."""
    assert parse_spec(spec_with(pipeline={"name": "p" * 51}), "p.json").name == "p" * 51
    refused_with(spec_with(pipeline={"name": "p" * 52}), "is 1 characters longer than the 51 max")
    project = {"name": "research_team"}  # 13 characters: at most 63 - 13 - 1 - 4 = 45 for the name
    assert parse_spec(spec_with(pipeline={"name": "p" * 45, "project": project}), "p.json")
    refused_with(
        spec_with(pipeline={"name": "p" * 46, "project": project}),
        f"Kubernetes name 'research-team-{'p' * 46}-v99' is 1 characters longer than the 63 max",
    )


def test_pachd_accepts_what_looks_unusual() -> None:
    """The other side of the checks above: what pachd lets through is not refused."""
    service = {"internalPort": 80, "externalPort": 30080}
    assert parse_spec(spec_with(service=service), "p.json").is_service  # no parallelismSpec at all
    spout_service = spec_with(spout={"service": service})  # a spout with a service may have an input
    assert parse_spec(spout_service, "p.json").raw["spout"]["service"]["internalPort"] == 80
    cron = parse_spec(spec_with(input={"cron": {"name": "tick", "spec": "@every 10s"}}), "p.json")
    assert cron.input.operator == "cron"
    assert parse_spec(spec_with(podPatch='[{"op": "add", "path": "/x", "value": 1}]'), "p.json")
    trigger = {"branch": "staging", "cronSpec": "@every 1m", "commits": "3"}
    doc = spec_with(input={"pfs": {"repo": "raw", "glob": "/", "trigger": trigger}})
    assert parse_spec(doc, "p.json").raw["input"]["pfs"]["trigger"]["commits"] == 3
    assert parse_spec(spec_with(egress={"URL": "s3://bucket/out"}), "p.json").raw["egress"]["URL"]


# --- Pachyderm's own example specs -----------------------------------------------------------------
FIXTURES = Path(__file__).parent / "fixtures" / "pachyderm"
#: The two example files pachd refuses, and why (see fixtures/pachyderm/SOURCES.md).
REFUSED_EXAMPLES = {
    "examples/redshift/pipeline.pipeline.json": "input.pfs.glob: required",
    "examples/run/config/pipeline.pipeline.json": "name ($PIPELINE_NAME) invalid",
}


def test_pachyderms_example_specs_are_accepted() -> None:
    """Every pipeline spec of pachyderm/pachyderm's examples/ and console/ (copied unchanged into
    tests/runner/fixtures/pachyderm/) that pachd accepts, the runner accepts."""
    files = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".json", ".yaml", ".yml"))
    accepted = []
    for path in files:
        relative = str(path.relative_to(FIXTURES))
        if relative in REFUSED_EXAMPLES:
            with pytest.raises(SpecError, match=re.escape(REFUSED_EXAMPLES[relative])):
                load_file_specs(path)
        else:
            accepted.extend(load_file_specs(path))
    assert len(accepted) >= 75
    kinds = {s.input.operator for s in accepted if s.input and s.input.operator}
    assert kinds >= {"cross", "join", "group", "union", "cron"}
    assert any(s.is_service for s in accepted) and any("spout" in s.raw for s in accepted)


# --- input repos must exist: pfs ErrRepoNotFound --------------------------------------------------
def test_input_repos_must_exist_or_come_from_the_same_batch() -> None:
    """pachd creates the pipeline's branch provenance and refuses a missing repo
    (src/server/pfs/pfs.go ErrRepoNotFound "repo <project>/<name> not found"). Specs of one
    -f batch may read each other's output repos (the runner accepts them in any order)."""
    reader = parse_spec(
        spec_with(pipeline={"name": "reader"}, input={"pfs": {"repo": "copy", "glob": "/"}}), "r.json"
    )
    copy_spec = parse_spec(spec_with(), "c.json")
    assert input_repos(reader) == ["copy"]
    check_input_repos([reader, copy_spec], {"raw"})
    with pytest.raises(SpecError) as info:
        check_input_repos([reader], {"raw"})
    assert info.value.problems == ["r.json: input repo 'copy': repo default/copy not found"]
    cron_only = parse_spec(spec_with(input={"cron": {"name": "tick", "spec": "@hourly"}}), "t.json")
    assert input_repos(cron_only) == []  # pachd makes a cron input's repo itself
    check_input_repos([cron_only], set())


def test_create_pipeline_refuses_a_missing_input_repo(runner: Any, tmp_path: Path) -> None:
    """The create verb gives pachd's verdict (exit 2) and creates nothing: no misspelled repo."""
    spec = tmp_path / "copy.json"
    spec.write_text(json.dumps(spec_with(input={"pfs": {"repo": "rwa", "glob": "/*"}})))
    result = runner("create", "pipeline", "-f", str(spec), expect=2)
    assert result.err.strip() == f"{spec}: input repo 'rwa': repo default/rwa not found"
    assert "rwa" not in runner("list", "repo").out
    runner("create", "repo", "rwa")
    assert "copy: created" in runner("create", "pipeline", "-f", str(spec)).out


# --- the schema: src/internal/jsonschema/pps_v2/CreatePipelineRequest.schema.json -----------------
SCHEMA = Path(__file__).parent / "fixtures" / "pachyderm-schema" / "CreatePipelineRequest.schema.json"
#: pps.proto fields the JSON schema leaves out (jsonschema field_options ignore = true).
SCHEMA_IGNORED = {"update", "reprocess", "specCommit", "dryRun"}


def test_schema_matches_pachyderms_json_schema() -> None:
    """Every message of Pachyderm's JSON schema has exactly the runner's fields, messages map to
    messages, and every enum has the proto's names in the proto's order (numbers are positions)."""
    from runner.spec import INPUT, PIPELINE_SPEC, SECRET_MOUNT, TOLERATION

    schema = json.loads(SCHEMA.read_text())
    definitions = schema["definitions"]

    def compare(definition: dict[str, Any], fields: dict[str, Any], where: str) -> None:
        properties = definition["properties"]
        expected = set(properties) | (SCHEMA_IGNORED if where == "CreatePipelineRequest" else set())
        assert set(fields) == expected, where
        for name, prop in properties.items():
            kind = fields[name]
            ref = prop.get("$ref")
            if ref:
                target = definitions[ref.split("/")[-1]]
                compare(target, INPUT if kind == "input" else kind, f"{where}.{name}")
            elif "enum" in prop:
                assert kind == ("enum", tuple(prop["enum"])), f"{where}.{name}"
            elif prop.get("type") == "array" or "array" in json.dumps(prop.get("oneOf", "")):
                assert isinstance(kind, tuple) and kind[0] == "list", f"{where}.{name}"
            else:
                types = {prop.get("type")} | {o.get("type") for o in prop.get("oneOf", [])}
                json_type = ({"integer", "number", "boolean", "string", "object"} & types).pop()
                if "pattern" in prop:
                    json_type = "duration"
                elif prop.get("format") == "date-time":
                    json_type = "timestamp"
                assert KINDS[json_type](kind), f"{where}.{name}: {kind} for {json_type}"

    compare(definitions[schema["$ref"].split("/")[-1]], PIPELINE_SPEC, "CreatePipelineRequest")
    compare(definitions["pps_v2.Toleration"], TOLERATION, "Toleration")  # items of a list
    compare(definitions["pps_v2.SecretMount"], SECRET_MOUNT, "SecretMount")


#: Which runner kinds fit each JSON schema type (the Int64Value wrapper shows as "integer").
KINDS = {
    "integer": lambda k: k in ("int32", "int64", "uint64") or k == ("wrapper", "int64"),
    "number": lambda k: k == "float",
    "boolean": lambda k: k == "bool",
    "string": lambda k: k == "str",
    "object": lambda k: isinstance(k, tuple) and k[0] == "map",
    "duration": lambda k: k == "duration",
    "timestamp": lambda k: k == "timestamp",
}
