"""Pachyderm 2.x pipeline specs: read as pachctl reads them, refused where pachd refuses them.

``load_specs(path) -> list[Spec]`` takes a spec file or a folder of ``*.json``/``*.yaml``/``*.yml``
files. A file holds one spec or several, as pachctl's src/internal/ppsutil/decoder.go reads it:
JSON or YAML, YAML ``---`` documents, a list of specs, or (as pachctl 1.x did) a stream of JSON
objects. Values are taken as protojson takes them (quoted numbers, enum names or numbers,
``null`` as unset, durations such as ``".5s"``) and checked as pachd's
src/server/pps/server/api_server.go checks them. ``SpecError`` lists every problem, each as
``<file>: <field path>: <why>`` (for example ``specs/ingest.json: input.cross[0].pfs.glob:
required``), where ``<why>`` is pachd's reason when pachd has one.
Fields that only mean something on a cluster are accepted and listed in ``Spec.ignored``.
docs/conformance.md lists each behaviour with its Pachyderm source and its test.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.cron import CronError, parse_cron
from runner.yaml_subset import SCHEMA_KEY, YamlError, load_documents

#: api_server.go maxPipelineNameLength.
MAX_PIPELINE_NAME = 51
#: api_server.go dnsLabelLimit: the worker RC name (ppsutil.PipelineRcName) must fit a DNS label.
DNS_LABEL_LIMIT = 63
#: pachctl's project when the spec names none (--project, default "default").
DEFAULT_PROJECT = "default"
#: ancestry.ValidateName: names of pipelines and repos.
NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
DEFAULT_DATUM_TRIES = 3
#: google.protobuf.Duration's largest magnitude in seconds (protojson refuses more).
MAX_DURATION_SECONDS = 315_576_000_000
SPEC_SUFFIXES = (".json", ".yaml", ".yml")

# --- the schema, after the protobuf messages of src/pps/pps.proto and src/pfs/pfs.proto -------
# A type is a scalar kind ("str", "bool", "int64", "uint64", "int32", "float", "duration",
# "timestamp", "any"), ("enum", <values>), ("list", T), ("map", T), ("wrapper", kind) for
# google.protobuf.*Value, a dict (a message with those fields), or "input" (the recursive Input).
TOLERATION_OPERATORS = ("EMPTY", "EXISTS", "EQUAL")
TAINT_EFFECTS = ("ALL_EFFECTS", "NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE")
SQL_FILE_FORMATS = ("UNKNOWN", "CSV", "JSON", "PARQUET")
RESOURCES = {"cpu": "float", "memory": "str", "gpu": {"type": "str", "number": "int64"}, "disk": "str"}
SERVICE = {"internalPort": "int32", "externalPort": "int32", "ip": "str", "type": "str"}
TRIGGER = {
    "branch": "str",
    "all": "bool",
    "rateLimitSpec": "str",
    "size": "str",
    "commits": "int64",
    "cronSpec": "str",
}
PFS_INPUT = {
    "project": "str",
    "name": "str",
    "repo": "str",
    "repoType": "str",
    "branch": "str",
    "commit": "str",
    "glob": "str",
    "joinOn": "str",
    "outerJoin": "bool",
    "groupBy": "str",
    "lazy": "bool",
    "emptyFiles": "bool",
    "s3": "bool",
    "trigger": TRIGGER,
    "propagationSpec": {"never": "bool"},
    "reference": "bool",
}
CRON_INPUT = {
    "name": "str",
    "project": "str",
    "repo": "str",
    "commit": "str",
    "spec": "str",
    "overwrite": "bool",
    "start": "timestamp",
}
INPUT = {
    "pfs": PFS_INPUT,
    "join": ("list", "input"),
    "group": ("list", "input"),
    "cross": ("list", "input"),
    "union": ("list", "input"),
    "cron": CRON_INPUT,
}
SECRET_MOUNT = {"name": "str", "key": "str", "mountPath": "str", "envVar": "str"}
TRANSFORM = {
    "image": "str",
    "cmd": ("list", "str"),
    "errCmd": ("list", "str"),
    "env": ("map", "str"),
    "secrets": ("list", SECRET_MOUNT),
    "imagePullSecrets": ("list", "str"),
    "stdin": ("list", "str"),
    "errStdin": ("list", "str"),
    "acceptReturnCode": ("list", "int64"),
    "debug": "bool",
    "user": "str",
    "workingDir": "str",
    "dockerfile": "str",
    "memoryVolume": "bool",
    "datumBatching": "bool",
}
TOLERATION = {
    "key": "str",
    "operator": ("enum", TOLERATION_OPERATORS),
    "value": "str",
    "effect": ("enum", TAINT_EFFECTS),
    "tolerationSeconds": ("wrapper", "int64"),
}
PROJECT = {"name": "str"}
REPO = {"name": "str", "type": "str", "project": PROJECT}
SQL_EGRESS = {
    "url": "str",
    "fileFormat": {"type": ("enum", SQL_FILE_FORMATS), "columns": ("list", "str")},
    "secret": {"name": "str", "key": "str"},
}
EGRESS = {"URL": "str", "objectStorage": {"url": "str"}, "sqlDatabase": SQL_EGRESS}
#: Fields of one protobuf ``oneof``: protojson refuses a message that sets two of them.
ONEOFS = {"egress": ("objectStorage", "sqlDatabase")}
PIPELINE_SPEC = {
    "pipeline": {"name": "str", "project": PROJECT},
    "tfJob": {"tfJob": "str"},
    "transform": TRANSFORM,
    "parallelismSpec": {"constant": "uint64"},
    "egress": EGRESS,
    "update": "bool",
    "outputBranch": "str",
    "s3Out": "bool",
    "resourceRequests": RESOURCES,
    "resourceLimits": RESOURCES,
    "sidecarResourceLimits": RESOURCES,
    "sidecarResourceRequests": RESOURCES,
    "input": "input",
    "description": "str",
    "reprocess": "bool",
    "service": SERVICE,
    "spout": {"service": SERVICE},
    "datumSetSpec": {"number": "int64", "sizeBytes": "int64", "perWorker": "int64"},
    "datumTimeout": "duration",
    "jobTimeout": "duration",
    "salt": "str",
    "datumTries": "int64",
    "schedulingSpec": {"nodeSelector": ("map", "str"), "priorityClassName": "str"},
    "podSpec": "str",
    "podPatch": "str",
    "specCommit": {"repo": REPO, "id": "str", "branch": {"repo": REPO, "name": "str"}},
    "metadata": {"annotations": ("map", "str"), "labels": ("map", "str")},
    "reprocessSpec": "str",
    "autoscaling": "bool",
    "tolerations": ("list", TOLERATION),
    "dryRun": "bool",
    "determined": {"workspaces": ("list", "str")},
    "maximumExpectedUptime": "duration",
}

#: Fields that only matter on a cluster: accepted, validated for shape, ignored locally.
CLUSTER_ONLY = (
    "tfJob",
    "egress",
    "update",
    "s3Out",
    "resourceRequests",
    "resourceLimits",
    "sidecarResourceLimits",
    "sidecarResourceRequests",
    "datumSetSpec",
    "jobTimeout",
    "schedulingSpec",
    "podSpec",
    "podPatch",
    "specCommit",
    "metadata",
    "autoscaling",
    "tolerations",
    "dryRun",
    "determined",
    "maximumExpectedUptime",
    "transform.secrets",
    "transform.imagePullSecrets",
    "transform.user",
    "transform.workingDir",
    "transform.dockerfile",
    "transform.memoryVolume",
    "transform.datumBatching",
    "transform.debug",
    "transform.errCmd",
    "transform.errStdin",
)
SERVICE_TYPES = ("NodePort", "ClusterIP", "LoadBalancer")
NODE_PORTS = range(30000, 32768)
REPROCESS_SPECS = ("until_success", "every_job")
INPUT_OPERATORS = tuple(INPUT)
# snake_case → camelCase: "parallelism_spec" → "parallelismSpec".
_SNAKE_RE = re.compile(r"_([a-z0-9])")


class SpecError(ValueError):
    """A spec file is invalid; ``problems`` holds one ``<file>: <field>: <why>`` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class PfsInput:
    """One ``pfs`` input: the files of ``repo@branch`` matched by ``glob``, seen as ``/pfs/<name>``."""

    name: str
    repo: str
    glob: str
    branch: str = "master"


@dataclass(frozen=True)
class Input:
    """An input node: exactly one of ``pfs`` or an operator (``cross``, ``union``, ...) over children."""

    pfs: PfsInput | None = None
    operator: str | None = None
    children: tuple[Input, ...] = ()

    def pfs_inputs(self) -> list[PfsInput]:
        """Every pfs input below this node, depth first."""
        if self.pfs is not None:
            return [self.pfs]
        return [p for child in self.children for p in child.pfs_inputs()]


@dataclass(frozen=True)
class Spec:
    """A validated pipeline spec, with what the runner needs to execute it."""

    name: str
    path: str
    input: Input | None
    cmd: tuple[str, ...]
    stdin: tuple[str, ...]
    env: dict[str, str]
    image: str
    parallelism: int
    datum_tries: int
    datum_timeout: float | None
    accept_return_codes: tuple[int, ...]
    service: dict[str, Any] | None
    description: str
    #: The spec as read, keys normalised to camelCase.
    raw: dict[str, Any]
    #: Hash of what determines a datum's output: transform, input, salt.
    spec_hash: str
    #: Cluster-only fields present in the spec (ignored by the local runner).
    ignored: tuple[str, ...] = field(default=())
    #: ``reprocessSpec``: ``until_success`` (Pachyderm's default) or ``every_job`` (no datum cache).
    reprocess_spec: str = "until_success"

    @property
    def is_service(self) -> bool:
        return self.service is not None

    @property
    def input_repos(self) -> list[str]:
        """Repos this pipeline reads, in input order, without repeats."""
        repos: list[str] = []
        for pfs in self.input.pfs_inputs() if self.input else []:
            if pfs.repo not in repos:
                repos.append(pfs.repo)
        return repos


def camel(key: str) -> str:
    """``parallelism_spec`` → ``parallelismSpec``; camelCase keys are returned unchanged."""
    return _SNAKE_RE.sub(lambda m: m.group(1).upper(), key)


class _Checker:
    """Walks a decoded spec against the schema as protojson does, normalising keys and values.

    Keys may be the protobuf field name (``parallelism_spec``) or its JSON name
    (``parallelismSpec``); a ``null`` value leaves the field unset; numbers, enums and durations
    take every spelling protojson takes and come out normalised (``"2"`` → ``2``, ``1`` →
    ``"EXISTS"``). Problems are collected, not raised, so one run reports all of them.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def fail(self, where: str, why: str) -> None:
        self.problems.append(f"{self.file}: {where or '(top level)'}: {why}")

    def check(self, value: Any, kind: Any, where: str) -> Any:
        if isinstance(kind, dict):
            return self._object(value, kind, where)
        if kind == "input":
            return self._object(value, INPUT, where)
        if isinstance(kind, tuple):
            container, item = kind
            if container == "enum":
                return self._enum(value, item, where)
            if container == "wrapper":
                return self.check(value, item, where)
            if container == "list":
                if not isinstance(value, list):
                    self.fail(where, f"must be a list, got {_json_type(value)}")
                    return None
                out = []
                for i, v in enumerate(value):
                    if v is None:
                        self.fail(f"{where}[{i}]", "null is not allowed in a list")
                    else:
                        out.append(self.check(v, item, f"{where}[{i}]"))
                return out
            if not isinstance(value, dict):
                self.fail(where, f"must be an object of strings, got {_json_type(value)}")
                return None
            return {k: self.check(v, item, f"{where}.{k}") for k, v in value.items()}
        return self._scalar(value, kind, where)

    def _object(self, value: Any, fields: dict[str, Any], where: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(where, f"must be an object, got {_json_type(value)}")
            return None
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = camel(key)
            path = f"{where}.{name}" if where else name
            if name not in fields:
                known = ", ".join(sorted(fields))
                self.fail(path, f"unknown field {key!r} (known: {known})")
                continue
            if name in out:
                self.fail(path, "given twice (as camelCase and snake_case)")
                continue
            if item is None:  # protojson: null leaves the field unset
                continue
            out[name] = self.check(item, fields[name], path)
        if where in ONEOFS:
            given = [f for f in ONEOFS[where] if f in out]
            if len(given) > 1:
                self.fail(where, f"{' and '.join(given)} are one protobuf oneof: give only one")
        return out

    def _enum(self, value: Any, names: tuple[str, ...], where: str) -> Any:
        number = _as_integer(value) if not isinstance(value, str) else None
        if isinstance(value, str) and value in names:
            return value
        if number is not None and -(2**31) <= number < 2**31:
            return names[number] if 0 <= number < len(names) else number
        hint = ""
        if isinstance(value, str) and value.upper().replace("-", "_") in names:
            hint = f" (enum names are case-sensitive: {value.upper().replace('-', '_')!r})"
        self.fail(where, f"must be one of {', '.join(names)} or its number, got {json.dumps(value)}{hint}")
        return value

    def _scalar(self, value: Any, kind: str, where: str) -> Any:
        if kind == "any":
            return value
        if kind == "str":
            if isinstance(value, str):
                return value
        elif kind == "bool":
            if isinstance(value, bool):
                return value
        elif kind in INT_RANGES:
            number = _protojson_integer(value)
            low, high = INT_RANGES[kind]
            if number is not None and low <= number <= high:
                return number
            if number is not None:
                self.fail(where, f"{number} is out of range for a protobuf {kind} ({low} to {high})")
                return value
            self.fail(where, f"must be an integer (a number or a quoted number), got {_describe(value)}")
            return value
        elif kind == "float":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value  # kept as written (1 stays 1), as the spec is stored
            number = _protojson_float(value)
            if number is not None:
                return number
            self.fail(where, f"must be a number (or a quoted number), got {_describe(value)}")
            return value
        elif kind == "duration":
            if isinstance(value, str) and parse_duration(value) is not None:
                return value
            self.fail(where, f'must be a protobuf duration such as "600s" or ".5s", got {json.dumps(value)}')
            return value
        elif kind == "timestamp":
            if isinstance(value, str) and TIMESTAMP_RE.match(value):
                return value
            self.fail(
                where, f'must be an RFC 3339 time such as "2024-01-01T00:00:00Z", got {json.dumps(value)}'
            )
            return value
        self.fail(where, f"must be {_article(kind)}, got {_describe(value)}")
        return value


#: protojson's accepted ranges of the integer kinds used in pps.proto.
INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
#: protojson's Timestamp: RFC 3339 with a zone (Z or an offset), up to 9 fractional digits.
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_JSON_NUMBER_RE = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")
_DURATION_RE = re.compile(r"^[-+]?(0|[1-9][0-9]*)?(\.[0-9]{0,9})?s$")


def _as_integer(value: Any) -> int | None:
    """A JSON number with no fractional part (protojson takes ``2``, ``2.0`` and ``2e0``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _protojson_integer(value: Any) -> int | None:
    """protojson unmarshalInt/Uint: a number, or a string holding exactly a JSON number."""
    if isinstance(value, str):
        if value != value.strip() or not _JSON_NUMBER_RE.match(value):
            return None
        value = float(value) if any(c in value for c in ".eE") else int(value)
    return _as_integer(value)


def _protojson_float(value: Any) -> float | None:
    """protojson unmarshalFloat: a number, ``"NaN"``/``"Infinity"``/``"-Infinity"``, or a quoted number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        if value in ("NaN", "Infinity", "-Infinity"):
            return float(value.replace("Infinity", "inf"))
        if value == value.strip() and _JSON_NUMBER_RE.match(value):
            return float(value)
    return None


def parse_duration(text: str) -> float | None:
    """Seconds of a protojson Duration (``"600s"``, ``"1.5s"``, ``".5s"``, ``"-2s"``), or None.

    After protobuf-go encoding/protojson/well_known_types.go parseDuration: a trailing ``s``, an
    optional sign, an integer part without leading zeros, at most 9 fractional digits; and
    ``|seconds| <= 315576000000``. ``"10m"``, ``"01s"`` and ``"1.0000000001s"`` are refused.
    """
    if len(text) < 2 or not _DURATION_RE.match(text) or text.lstrip("+-") == "s":
        return None
    seconds = float(text[:-1]) if text[:-1].lstrip("+-") not in ("", ".") else 0.0
    return seconds if abs(seconds) <= MAX_DURATION_SECONDS else None


def _article(kind: str) -> str:
    return {"str": "a string", "bool": "true or false"}[kind]


def _describe(value: Any) -> str:
    return f"{_json_type(value)} {json.dumps(value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def clean_glob(glob: str) -> str:
    """pfsfile.CleanPath, which pachd applies to every glob: ``"*"`` → ``"/*"``, ``"/a/"`` → ``"/a"``."""
    cleaned = posixpath.normpath(glob) if glob else "."
    return "/" if cleaned == "." else "/" + cleaned.strip("/")


def _check_pipeline_name(chk: _Checker, name: Any, project: str) -> None:
    """api_server.go validatePipelineRequest / validatePipeline, in pachd's order and words."""
    where = "pipeline.name"
    if not isinstance(name, str) or not name:
        chk.fail(where, "no pipeline `name` specified")
        return
    if not NAME_RE.match(name):
        chk.fail(
            where,
            f"invalid pipeline name: name ({name}) invalid: only alphanumeric characters, "
            "underscores, and dashes are allowed",
        )
        return
    if len(name) > MAX_PIPELINE_NAME:
        chk.fail(
            where,
            f"pipeline name {name!r} is {len(name) - MAX_PIPELINE_NAME} characters longer "
            f"than the {MAX_PIPELINE_NAME} max",
        )
        return
    rc_name = worker_rc_name(project, name)
    if len(rc_name) > DNS_LABEL_LIMIT:
        chk.fail(
            where,
            f"Kubernetes name {rc_name!r} is {len(rc_name) - DNS_LABEL_LIMIT} characters longer "
            f"than the {DNS_LABEL_LIMIT} max (project {project!r} counts)",
        )
        return
    if not name[0].isalnum():
        chk.fail(where, "pipeline names must start with an alphanumeric character")


def worker_rc_name(project: str, name: str) -> str:
    """ppsutil.PipelineRcName at version 99, as api_server.go measures it."""
    pipeline = name.replace("_", "-").lower()
    if project:
        return f"{project.replace('_', '-').lower()}-{pipeline}-v99"
    return f"pipeline-{pipeline}-v99"


def _check_repo_name(chk: _Checker, where: str, repo: str) -> None:
    if not NAME_RE.match(repo):
        chk.fail(
            where,
            f"repo name ({repo}) invalid: only alphanumeric characters, underscores, and dashes are allowed",
        )


def _contains_s3(node: dict[str, Any]) -> bool:
    if isinstance(node.get("pfs"), dict):
        return bool(node["pfs"].get("s3"))
    return any(
        isinstance(child, dict) and _contains_s3(child)
        for op in ("join", "group", "cross", "union")
        for child in node.get(op) or []
    )


def _parse_input(chk: _Checker, node: Any, where: str) -> Input | None:
    """api_server.go validateInput for one input node (shape already checked), then build it.

    Globs are cleaned as setInputDefaults does (pfsfile.CleanPath), so ``"*"`` means ``"/*"``.
    """
    if not isinstance(node, dict):
        return None
    present = [op for op in INPUT_OPERATORS if op in node]
    if not present:
        chk.fail(where, "no input set")
        return None
    if len(present) > 1:
        chk.fail(where, f"multiple input types set ({' and '.join(present)})")
        return None
    op = present[0]
    if op == "pfs":
        return _parse_pfs(chk, node["pfs"], f"{where}.pfs")
    if op == "cron":
        cron = node["cron"]
        if isinstance(cron, dict):
            spec = cron.get("spec", "")
            try:
                parse_cron(spec)
            except CronError as exc:
                chk.fail(f"{where}.cron.spec", f"error parsing cron-spec: {exc}")
        return Input(operator="cron")
    children_raw = node[op]
    if not isinstance(children_raw, list):
        return None
    if not children_raw:
        chk.fail(where, "no input set")  # an empty repeated field is an unset one
        return None
    if op in ("join", "group", "union") and _contains_s3(node):
        chk.fail(f"{where}.{op}", f"S3 inputs in {op} expressions are not supported")
    children = [_parse_input(chk, c, f"{where}.{op}[{i}]") for i, c in enumerate(children_raw)]
    if any(c is None for c in children):
        return None
    return Input(operator=op, children=tuple(c for c in children if c is not None))


def _parse_pfs(chk: _Checker, pfs: Any, where: str) -> Input | None:
    if not isinstance(pfs, dict):
        return None
    repo, glob, s3 = pfs.get("repo", ""), pfs.get("glob", ""), bool(pfs.get("s3"))
    glob = clean_glob(glob) if glob else ""
    problem = None
    if not repo:
        problem = ("repo", "required")  # pachd: "input must specify a repo"
    elif repo == "out" and not pfs.get("name"):
        problem = (
            "name",
            "inputs based on repos named \"out\" must have 'name' set, as pachyderm already "
            "creates /pfs/out to collect job output",
        )
    elif not s3 and not glob:
        problem = ("glob", "required")  # pachd: "input must specify a glob"
    elif s3 and glob != "/":
        problem = (
            "glob",
            "inputs that set 's3' to 'true' must also set 'glob', to \"/\", as the S3 gateway "
            "is only able to expose data at the commit level",
        )
    elif s3 and pfs.get("lazy"):
        problem = ("lazy", "input cannot specify both 's3' and 'lazy'")
    elif s3 and pfs.get("emptyFiles"):
        problem = ("emptyFiles", "input cannot specify both 's3' and 'empty_files'")
    elif pfs.get("commit"):
        problem = ("commit", "input cannot come from a commit; use a branch with head pointing to the commit")
    if problem:
        chk.fail(f"{where}.{problem[0]}", problem[1])
        return None
    _check_repo_name(chk, f"{where}.repo", repo)
    return Input(
        pfs=PfsInput(
            name=pfs.get("name") or repo, repo=repo, glob=glob or "/", branch=pfs.get("branch") or "master"
        )
    )


def _raw_input_names(chk: _Checker, node: Any, where: str, names: set[str]) -> None:
    """ppsutil.ValidateNames: every pfs/cron name is set, not reserved, used once (union
    branches may share names, but not with what is crossed/joined/grouped with the union)."""
    if not isinstance(node, dict):
        return
    leaf = node.get("pfs") if isinstance(node.get("pfs"), dict) else node.get("cron")
    if isinstance(leaf, dict):
        kind = "pfs" if "pfs" in node else "cron"
        name = leaf.get("name") or (leaf.get("repo") if kind == "pfs" else "")
        path = f"{where}.{kind}.name"
        if not name:
            chk.fail(path, "input must specify a name")
        elif name in RESERVED_INPUT_NAMES:
            chk.fail(path, f"input cannot be named {name}")
        elif name in names:
            chk.fail(path, f'name "{name}" was used more than once')
        else:
            names.add(name)
        return
    if isinstance(node.get("union"), list):
        added: set[str] = set()
        for i, child in enumerate(node["union"]):
            branch = set(names)
            _raw_input_names(chk, child, f"{where}.union[{i}]", branch)
            added |= branch - names
        names |= added
        return
    for op in ("cross", "join", "group"):
        for i, child in enumerate(node.get(op) or []):
            _raw_input_names(chk, child, f"{where}.{op}[{i}]", names)


#: common.OutputPrefix and common.EnvFileName (src/server/worker/common/common.go).
RESERVED_INPUT_NAMES = ("out", ".env")


def _check_tolerations(chk: _Checker, tolerations: Any) -> None:
    """worker_rc.go transformToleration: the operator may not be EMPTY (nor left out)."""
    if not isinstance(tolerations, list):
        return
    for i, toleration in enumerate(tolerations):
        if isinstance(toleration, dict) and toleration.get("operator", "EMPTY") in ("EMPTY", 0):
            chk.fail(
                f"tolerations[{i}].operator",
                f"toleration {i + 1}/{len(tolerations)}: cannot omit key/value comparison operator; "
                "specify EQUAL or EXISTS",
            )


def _valid_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _semantic_checks(chk: _Checker, doc: dict[str, Any]) -> None:
    """pachctl's decoder.go validateRequest, then api_server.go validatePipelineRequest,
    validatePipeline and validateSecret's first check (the input parts are in ``_parse_input``)."""
    pipeline = doc.get("pipeline")
    if not isinstance(pipeline, dict):
        if pipeline is None:
            chk.fail("pipeline", "no `pipeline` specified")
    else:
        project = (pipeline.get("project") or {}).get("name") or DEFAULT_PROJECT
        _check_pipeline_name(chk, pipeline.get("name"), project)
    if "tfJob" in doc:
        chk.fail("tfJob", "embedding TFJobs in pipelines is not supported yet")
    service, spout = doc.get("service"), doc.get("spout")
    if doc.get("s3Out") and (service is not None or spout is not None):
        chk.fail("s3Out", "s3 output is not supported in spouts or services")
    transform = doc.get("transform")
    if not isinstance(transform, dict):
        if "transform" not in doc:
            chk.fail("transform", "pipeline must specify a transform")
    elif not transform.get("cmd"):
        chk.fail("transform.cmd", "required (the local runner has no image entrypoint to fall back on)")
    if doc.get("reprocessSpec") not in (None, "", *REPROCESS_SPECS):
        chk.fail(
            "reprocessSpec",
            "invalid pipeline spec: ReprocessSpec must be one of "
            f"'{REPROCESS_SPECS[0]}' or '{REPROCESS_SPECS[1]}'",
        )
    if spout is not None and doc.get("autoscaling"):
        chk.fail("autoscaling", "autoscaling can't be used with spouts (spouts aren't triggered externally)")
    _check_tolerations(chk, doc.get("tolerations"))
    par = doc.get("parallelismSpec")
    if service is not None and isinstance(par, dict) and par.get("constant", 0) != 1:
        chk.fail("parallelismSpec.constant", "services can only be run with a constant parallelism of 1")
    for key, label in (("podSpec", "PodSpec"), ("podPatch", "PodPatch")):
        if isinstance(doc.get(key), str) and doc[key] and not _valid_json(doc[key]):
            chk.fail(key, f"malformed {label} (not JSON)")
    if isinstance(service, dict):
        stype = service.get("type") or "NodePort"
        if stype not in SERVICE_TYPES:
            chk.fail("service.type", f"the following service type {stype} is not allowed")
        port = service.get("internalPort")
        if not isinstance(port, int) or not 0 < port < 65536:
            chk.fail("service.internalPort", "required, a port number 1-65535")
        ext = service.get("externalPort")
        if stype == "NodePort" and isinstance(ext, int) and ext not in NODE_PORTS:
            chk.fail("service.externalPort", f"{ext} is outside the NodePort range 30000-32767")
    if isinstance(spout, dict) and spout.get("service") is None and doc.get("input") is not None:
        chk.fail("input", "spout pipelines (without a service) must not have an input")
    secrets = (transform or {}).get("secrets") if isinstance(transform, dict) else None
    for i, secret in enumerate(secrets or []):
        if isinstance(secret, dict) and secret.get("envVar") and not secret.get("key"):
            chk.fail(
                f"transform.secrets[{i}].key",
                f"secret {secret.get('name', '')} has env_var set but is missing key",
            )
    tries = doc.get("datumTries")
    if isinstance(tries, int) and tries < 0:
        chk.fail("datumTries", "must not be negative")


def _cluster_fields(doc: dict[str, Any]) -> tuple[str, ...]:
    present = []
    for dotted in CLUSTER_ONLY:
        node: Any = doc
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            present.append(dotted)
    return tuple(present)


def _input_to_json(node: Input | None) -> Any:
    if node is None:
        return None
    if node.pfs is not None:
        p = node.pfs
        return {"pfs": {"name": p.name, "repo": p.repo, "glob": p.glob, "branch": p.branch}}
    return {node.operator: [_input_to_json(c) for c in node.children]}


def spec_hash_of(transform: dict[str, Any], input_node: Input | None, salt: str) -> str:
    """Hash of the parts of a spec that decide a datum's output (not parallelism, retries...)."""
    keep = {k: transform.get(k) for k in ("image", "cmd", "stdin", "env", "acceptReturnCode")}
    doc = {"transform": keep, "input": _input_to_json(input_node), "salt": salt}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


def _clean_globs(node: Any) -> None:
    """Write the cleaned glob back into the normalised spec (what pachd stores)."""
    if not isinstance(node, dict):
        return
    pfs = node.get("pfs")
    if isinstance(pfs, dict) and isinstance(pfs.get("glob"), str) and pfs["glob"]:
        pfs["glob"] = clean_glob(pfs["glob"])
    for op in ("join", "group", "cross", "union"):
        for child in node.get(op) or []:
            _clean_globs(child)


def parse_spec(doc: Any, file: str) -> Spec:
    """Validate one decoded spec (a JSON object); ``file`` names it in error messages."""
    chk = _Checker(file)
    if not isinstance(doc, dict):
        raise SpecError([f"{file}: (top level): a spec must be an object, got {_json_type(doc)}"])
    norm = chk.check({k: v for k, v in doc.items() if k != SCHEMA_KEY}, PIPELINE_SPEC, "")
    _semantic_checks(chk, norm)
    input_node = None
    if isinstance(norm.get("input"), dict):
        _clean_globs(norm["input"])
        _raw_input_names(chk, norm["input"], "input", set())
        input_node = _parse_input(chk, norm["input"], "input")
    if chk.problems:
        raise SpecError(chk.problems)
    transform = norm.get("transform") or {}
    timeout = norm.get("datumTimeout")
    tries = norm.get("datumTries") or DEFAULT_DATUM_TRIES
    return Spec(
        name=norm["pipeline"]["name"],
        path=file,
        input=input_node,
        cmd=tuple(transform.get("cmd") or ()),
        stdin=tuple(transform.get("stdin") or ()),
        env=dict(transform.get("env") or {}),
        image=transform.get("image", ""),
        parallelism=max(1, (norm.get("parallelismSpec") or {}).get("constant") or 1),
        datum_tries=tries,
        datum_timeout=parse_duration(timeout) if timeout else None,
        accept_return_codes=tuple(transform.get("acceptReturnCode") or ()),
        service=norm.get("service"),
        description=norm.get("description", ""),
        raw=norm,
        spec_hash=spec_hash_of(transform, input_node, norm.get("salt", "")),
        ignored=_cluster_fields(norm),
        reprocess_spec=norm.get("reprocessSpec") or "until_success",
    )


# --- files --------------------------------------------------------------------------------------
def read_documents(text: str, file: str) -> list[Any]:
    """The specs of one file as pachctl reads them (src/internal/ppsutil/decoder.go SpecReader).

    JSON (one object, a list of objects, or a stream of objects as pachctl 1.x's json.Decoder
    read it) or YAML (``---`` documents, each a spec or a list of specs). Raises ``SpecError``.
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        docs = _json_stream(text)
        if docs is not None:
            return [spec for doc in docs for spec in (doc if isinstance(doc, list) else [doc])]
    try:
        docs = load_documents(text, file)
    except YamlError as exc:
        if stripped[:1] in ("{", "["):
            try:
                json.loads(text)
            except json.JSONDecodeError as jexc:
                raise SpecError(
                    [f"{file}: line {jexc.lineno} column {jexc.colno}: invalid JSON: {jexc.msg}"]
                ) from exc
        raise SpecError([str(exc)]) from exc
    out: list[Any] = []
    for doc in docs:
        if isinstance(doc, list):
            out.extend(doc)
        elif doc is None:
            continue  # an empty document (a trailing '---')
        else:
            out.append(doc)
    return out


def _json_stream(text: str) -> list[Any] | None:
    """Every JSON value of ``text`` in order, or None if it is not a JSON stream."""
    decoder = json.JSONDecoder()
    docs, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n\ufeff":
            pos += 1
        if pos >= len(text):
            return docs
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        docs.append(doc)


def load_file_specs(path: str | Path) -> list[Spec]:
    """Every spec of one file; a file of several names each as ``<file> (spec N)``."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([f"{file}: cannot read: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        raise SpecError([f"{file}: not UTF-8 text ({exc.reason})"]) from exc
    docs = read_documents(text, file)
    if not docs:
        raise SpecError([f"{file}: no pipeline spec in this file"])
    specs, problems = [], []
    for i, doc in enumerate(docs):
        label = file if len(docs) == 1 else f"{file} (spec {i + 1})"
        try:
            specs.append(parse_spec(doc, label))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return specs


def load_spec(path: str | Path) -> Spec:
    """Read and validate a file holding one spec; raises ``SpecError`` naming the file and fields."""
    specs = load_file_specs(path)
    if len(specs) > 1:
        raise SpecError([f"{path}: holds {len(specs)} specs, one expected (use load_specs)"])
    return specs[0]


def load_specs(path: str | Path) -> list[Spec]:
    """A spec file (one or several specs), or every ``*.json``/``*.yaml``/``*.yml`` of a folder
    (sorted by name); all problems of all files at once."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in SPEC_SUFFIXES and f.is_file())
        if not files:
            raise SpecError([f"{path}: no *.json, *.yaml or *.yml spec files in this folder"])
    else:
        files = [p]
    specs: list[Spec] = []
    problems: list[str] = []
    for f in files:
        try:
            specs.extend(load_file_specs(f))
        except SpecError as exc:
            problems.extend(exc.problems)
    names: dict[str, str] = {}
    for spec in specs:
        if spec.name in names:
            problems.append(
                f"{spec.path}: pipeline.name: {spec.name!r} is also defined in {names[spec.name]}"
            )
        names[spec.name] = spec.path
    if problems:
        raise SpecError(problems)
    return specs


# --- input repos --------------------------------------------------------------------------------
def input_repos(spec: Spec) -> list[str]:
    """The repos a spec's pfs inputs read, in input order, without repeats (cron repos, which
    pachd makes itself, are not among them)."""
    return spec.input_repos


def upstream_pipelines(spec: Spec, specs: Mapping[str, Spec]) -> set[str]:
    """The pipelines (of ``specs``, by name) whose output ``spec`` reads, directly or through other
    pipelines."""
    found: set[str] = set()
    pending = list(spec.input_repos)
    while pending:
        repo = pending.pop()
        if repo in specs and repo not in found:
            found.add(repo)
            pending.extend(specs[repo].input_repos)
    return found


def check_input_repos(specs: list[Spec], existing_repos: set[str] | list[str]) -> None:
    """Refuse specs whose input repos do not exist, as pachd does when it creates the pipeline's
    branch provenance (src/server/pfs/pfs.go ErrRepoNotFound: ``repo default/<name> not found``).

    The specs of one batch (one ``-f``) may read each other's output repos, in any order.
    """
    available = set(existing_repos) | {spec.name for spec in specs}
    problems = []
    for spec in specs:
        project = (spec.raw.get("pipeline", {}).get("project") or {}).get("name") or DEFAULT_PROJECT
        for repo in input_repos(spec):
            if repo not in available:
                problems.append(f"{spec.path}: input repo {repo!r}: repo {project}/{repo} not found")
    if problems:
        raise SpecError(problems)
