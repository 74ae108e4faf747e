"""Pachyderm 2.x pipeline specs: strict validation and the parsed form the runner executes.

``load_spec(path) -> Spec`` reads one JSON spec and raises ``SpecError`` listing every problem,
each as ``<file>: <field path>: <why>`` (for example
``specs/ingest.json: input.cross[0].pfs.glob: required``). ``load_specs(path)`` takes a spec
file or a folder of ``*.json`` specs. Keys may be camelCase or snake_case, as pachctl accepts;
fields that only mean something on a cluster are accepted and listed in ``Spec.ignored``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Longest pipeline name Pachyderm accepts (its Kubernetes objects add a prefix).
MAX_PIPELINE_NAME = 51
NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
DURATION_RE = re.compile(r"^\d+(\.\d+)?s$")
DEFAULT_DATUM_TRIES = 3

# --- the schema, after the protobuf messages of pachyderm-sdk's pps/pfs APIs -------------------
# A type is one of: "str", "int", "bool", "number", "duration", "any", ("list", T), ("map", T),
# a dict (an object with those fields), or "input" (the recursive Input message).
RESOURCES = {"cpu": "number", "memory": "str", "gpu": {"type": "str", "number": "int"}, "disk": "str"}
SERVICE = {"internalPort": "int", "externalPort": "int", "ip": "str", "type": "str"}
TRIGGER = {
    "branch": "str",
    "all": "bool",
    "rateLimitSpec": "str",
    "size": "str",
    "commits": "int",
    "cron": "str",
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
    "start": "str",
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
    "acceptReturnCode": ("list", "int"),
    "debug": "bool",
    "user": "str",
    "workingDir": "str",
    "dockerfile": "str",
    "memoryVolume": "bool",
    "datumBatching": "bool",
}
TOLERATION = {"key": "str", "operator": "str", "value": "str", "effect": "str", "tolerationSeconds": "int"}
PIPELINE_SPEC = {
    "pipeline": {"name": "str", "project": {"name": "str"}},
    "tfJob": {"tfJob": "str"},
    "transform": TRANSFORM,
    "parallelismSpec": {"constant": "int"},
    "egress": {"URL": "str", "url": "str", "objectStorage": "any", "sqlDatabase": "any"},
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
    "datumSetSpec": {"number": "int", "sizeBytes": "int", "perWorker": "int"},
    "datumTimeout": "duration",
    "jobTimeout": "duration",
    "salt": "str",
    "datumTries": "int",
    "schedulingSpec": {"nodeSelector": ("map", "str"), "priorityClassName": "str"},
    "podSpec": "str",
    "podPatch": "str",
    "specCommit": "any",
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
    """Walks a JSON document against a schema, normalising keys and collecting problems."""

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
            if container == "list":
                if not isinstance(value, list):
                    self.fail(where, f"must be a list, got {_json_type(value)}")
                    return None
                return [self.check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
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
            out[name] = self.check(item, fields[name], path)
        return out

    def _scalar(self, value: Any, kind: str, where: str) -> Any:
        ok = {
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "duration": isinstance(value, str) and bool(DURATION_RE.match(value)),
            "any": True,
        }[kind]
        if not ok:
            if kind == "duration":
                self.fail(where, f'must be a duration such as "600s", got {json.dumps(value)}')
            else:
                self.fail(where, f"must be {_article(kind)}, got {_json_type(value)} {json.dumps(value)}")
        return value


def _article(kind: str) -> str:
    return {"str": "a string", "int": "an integer", "bool": "true or false", "number": "a number"}[kind]


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


def _check_name(chk: _Checker, where: str, name: Any, what: str, max_len: int | None = None) -> None:
    if not isinstance(name, str) or not name:
        chk.fail(where, "required")
        return
    if not NAME_RE.match(name):
        chk.fail(where, f"{what} {name!r} may only hold letters, digits, '_' and '-'")
    if max_len is not None and len(name) > max_len:
        chk.fail(where, f"{what} {name!r} is {len(name)} characters long, at most {max_len} allowed")


def _parse_input(chk: _Checker, node: Any, where: str) -> Input | None:
    """Check one input node (shape already checked) and build it."""
    if not isinstance(node, dict):
        return None
    present = [op for op in INPUT_OPERATORS if op in node]
    if not present:
        chk.fail(where, f"empty input: needs exactly one of {', '.join(INPUT_OPERATORS)}")
        return None
    if len(present) > 1:
        chk.fail(where, f"has {' and '.join(present)}: an input node takes exactly one operator")
        return None
    op = present[0]
    if op == "pfs":
        pfs = node["pfs"]
        if not isinstance(pfs, dict):
            return None
        for key in ("repo", "glob"):
            if not pfs.get(key):
                chk.fail(f"{where}.pfs.{key}", "required")
        glob = pfs.get("glob")
        if isinstance(glob, str) and glob and not glob.startswith("/"):
            chk.fail(f"{where}.pfs.glob", f"{glob!r} must start with '/'")
        if pfs.get("repo"):
            _check_name(chk, f"{where}.pfs.repo", pfs["repo"], "repo name")
        name = pfs.get("name") or pfs.get("repo")
        if pfs.get("name"):
            _check_name(chk, f"{where}.pfs.name", pfs["name"], "input name")
        if name == "out":
            chk.fail(f"{where}.pfs.name", "'out' is reserved for the output folder /pfs/out")
        if not (pfs.get("repo") and glob and name):
            return None
        return Input(
            pfs=PfsInput(name=name, repo=pfs["repo"], glob=glob, branch=pfs.get("branch") or "master")
        )
    if op == "cron":
        cron = node["cron"]
        if isinstance(cron, dict):
            for key in ("name", "spec"):
                if not cron.get(key):
                    chk.fail(f"{where}.cron.{key}", "required")
        return Input(operator="cron")
    children_raw = node[op]
    if not isinstance(children_raw, list):
        return None
    if not children_raw:
        chk.fail(f"{where}.{op}", "needs at least one input")
    children = [_parse_input(chk, c, f"{where}.{op}[{i}]") for i, c in enumerate(children_raw)]
    if any(c is None for c in children):
        return None
    return Input(operator=op, children=tuple(c for c in children if c is not None))


def _input_names(chk: _Checker, node: Input, where: str) -> set[str]:
    """Names of the inputs under ``node``; duplicates fail, except between branches of a union."""
    if node.pfs is not None:
        return {node.pfs.name}
    names: set[str] = set()
    for i, child in enumerate(node.children):
        child_names = _input_names(chk, child, f"{where}.{node.operator}[{i}]")
        if node.operator != "union":
            for dup in sorted(names & child_names):
                chk.fail(
                    f"{where}.{node.operator}[{i}]", f"input name {dup!r} is used twice; give each a 'name'"
                )
        names |= child_names
    return names


def _semantic_checks(chk: _Checker, doc: dict[str, Any]) -> None:
    pipeline = doc.get("pipeline") or {}
    if "pipeline" not in doc:
        chk.fail("pipeline.name", "required")
    elif isinstance(pipeline, dict):
        _check_name(chk, "pipeline.name", pipeline.get("name"), "pipeline name", MAX_PIPELINE_NAME)
    transform = doc.get("transform")
    if not isinstance(transform, dict):
        if "transform" not in doc:
            chk.fail("transform", "required")
    elif not transform.get("cmd"):
        chk.fail("transform.cmd", "required (the local runner has no image entrypoint to fall back on)")
    if "input" not in doc and "spout" not in doc:
        chk.fail("input", "required")
    for key in ("datumTries",):
        if isinstance(doc.get(key), int) and doc[key] < 0:
            chk.fail(key, "must not be negative")
    par = doc.get("parallelismSpec")
    if isinstance(par, dict) and isinstance(par.get("constant"), int) and par["constant"] < 0:
        chk.fail("parallelismSpec.constant", "must not be negative")
    if doc.get("reprocessSpec") not in (None, *REPROCESS_SPECS):
        chk.fail("reprocessSpec", f"must be one of {', '.join(REPROCESS_SPECS)}")
    service = doc.get("service")
    if isinstance(service, dict):
        stype = service.get("type", "NodePort")
        if stype not in SERVICE_TYPES:
            chk.fail("service.type", f"must be one of {', '.join(SERVICE_TYPES)}, got {stype!r}")
        port = service.get("internalPort")
        if not isinstance(port, int) or not 0 < port < 65536:
            chk.fail("service.internalPort", "required, a port number 1-65535")
        ext = service.get("externalPort")
        if stype == "NodePort" and isinstance(ext, int) and ext not in NODE_PORTS:
            chk.fail("service.externalPort", f"{ext} is outside the NodePort range 30000-32767")


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


def parse_spec(doc: Any, file: str) -> Spec:
    """Validate a decoded JSON spec; ``file`` names it in error messages."""
    chk = _Checker(file)
    if not isinstance(doc, dict):
        raise SpecError([f"{file}: (top level): must be a JSON object, got {_json_type(doc)}"])
    norm = chk.check(doc, PIPELINE_SPEC, "")
    _semantic_checks(chk, norm)
    input_node = _parse_input(chk, norm["input"], "input") if isinstance(norm.get("input"), dict) else None
    if input_node is not None:
        _input_names(chk, input_node, "input")
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
        datum_timeout=float(timeout[:-1]) if timeout else None,
        accept_return_codes=tuple(transform.get("acceptReturnCode") or ()),
        service=norm.get("service"),
        description=norm.get("description", ""),
        raw=norm,
        spec_hash=spec_hash_of(transform, input_node, norm.get("salt", "")),
        ignored=_cluster_fields(norm),
        reprocess_spec=norm.get("reprocessSpec") or "until_success",
    )


def load_spec(path: str | Path) -> Spec:
    """Read and validate one JSON spec file; raises ``SpecError`` naming the file and fields."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([f"{file}: cannot read: {exc.strerror}"]) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError([f"{file}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"]) from exc
    return parse_spec(doc, file)


def load_specs(path: str | Path) -> list[Spec]:
    """A spec file, or every ``*.json`` in a folder (sorted); all problems of all files at once."""
    p = Path(path)
    files = sorted(p.glob("*.json")) if p.is_dir() else [p]
    if p.is_dir() and not files:
        raise SpecError([f"{path}: no *.json spec files in this folder"])
    specs, problems = [], []
    for f in files:
        try:
            specs.append(load_spec(f))
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
