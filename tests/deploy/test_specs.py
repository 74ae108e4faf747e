"""The two paths held together: every spec runs under the local runner AND on Pachyderm with our images."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from runner.spec import load_spec
from tests.deploy.images import missing_for_module
from tools.image_list import read_images

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_FILES = sorted((REPO_ROOT / "specs").glob("*.json"))
SPEC_IDS = [p.name for p in SPEC_FILES]
PFS_REFERENCE = re.compile(r"/pfs/([^/\s\"']+)")
PINNED_TAG = re.compile(r"^stockpipe/[a-z0-9-]+:\d+\.\d+\.\d+$")
PYTHONS = ("python", "python3")


VERSION = "0.1.0"  # the Makefile's VERSION, as in specs/


@pytest.fixture(scope="module")
def images_plan() -> dict[str, Path]:
    """Image tag -> Dockerfile of every image `make images` builds (images.txt, the one list)."""
    return {image.tag(VERSION): REPO_ROOT / image.dockerfile for image in read_images()}


def entry_modules(cmd: list[str]) -> list[str]:
    """The Python modules a cmd runs: `python3 -m X`, or gunicorn's `module:app` and `python:config`."""
    if len(cmd) >= 3 and Path(cmd[0]).name in PYTHONS and cmd[1] == "-m":
        if cmd[2] == "gunicorn":
            return entry_modules(["gunicorn", *cmd[3:]])
        return [cmd[2]]
    if cmd and Path(cmd[0]).name == "gunicorn":
        apps = [
            arg.split(":")[0]
            for arg in cmd[1:]
            if re.fullmatch(r"[\w.]+:[\w.()]+", arg) and not arg.startswith("python:")
        ]
        configs = [arg.removeprefix("python:") for arg in cmd[1:] if arg.startswith("python:")]
        return ["gunicorn", *apps, *configs]
    return []


def test_there_are_specs() -> None:
    assert SPEC_FILES, "specs/ holds no *.json"


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=SPEC_IDS)
def test_spec_validates_strictly_with_the_runner_validator(spec_file: Path) -> None:
    spec = load_spec(spec_file)  # raises SpecError naming file and field
    assert spec.name == spec_file.stem, "a spec file is named after its pipeline"


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=SPEC_IDS)
def test_spec_image_is_pinned_and_built_by_make_images(spec_file: Path, images_plan: dict[str, Path]) -> None:
    image = load_spec(spec_file).image
    assert PINNED_TAG.match(image), f"{spec_file.name}: image {image!r} is not stockpipe/<name>:X.Y.Z"
    assert image in images_plan, f"{spec_file.name}: `make images` builds {sorted(images_plan)}, not {image}"
    assert images_plan[image].is_file(), (
        f"{image} is built from {images_plan[image]}, which does not exist yet"
    )


def test_make_images_builds_only_images_the_specs_use(images_plan: dict[str, Path]) -> None:
    used = {load_spec(p).image for p in SPEC_FILES}
    assert used <= set(images_plan)
    assert used == set(images_plan), (
        f"images.txt lists images no spec uses: {sorted(set(images_plan) - used)}"
    )


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=SPEC_IDS)
def test_spec_cmd_runs_a_module_that_exists(spec_file: Path) -> None:
    spec = load_spec(spec_file)
    modules = entry_modules(list(spec.cmd))
    assert modules, f"{spec_file.name}: cmd {spec.cmd} runs no Python module this test knows how to find"
    for module in modules:
        assert importlib.util.find_spec(module) is not None, f"{spec_file.name}: no module {module}"


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=SPEC_IDS)
def test_every_pfs_path_of_the_spec_is_one_of_its_inputs_or_out(spec_file: Path) -> None:
    spec = load_spec(spec_file)
    names = {p.name for p in spec.input.pfs_inputs()} if spec.input else set()
    texts = [*spec.cmd, *spec.stdin, *spec.env.values()]
    used = {match for text in texts for match in PFS_REFERENCE.findall(text)}
    assert used <= names | {"out"}, (
        f"{spec_file.name}: /pfs/{sorted(used - names - {'out'})} is no input name"
    )


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=SPEC_IDS)
def test_spec_image_holds_what_its_cmd_imports(spec_file: Path, images_plan: dict[str, Path]) -> None:
    spec = load_spec(spec_file)
    dockerfile = images_plan.get(spec.image)
    if dockerfile is None or not dockerfile.is_file():
        pytest.fail(f"{spec_file.name}: no Dockerfile builds {spec.image}")
    problems = [
        p
        for module in entry_modules(list(spec.cmd))
        for p in missing_for_module(dockerfile, module, REPO_ROOT)
    ]
    assert not problems, f"{dockerfile.relative_to(REPO_ROOT)} for {spec_file.name}:\n" + "\n".join(problems)


def test_kind_maps_the_pachyderm_proxy_and_the_serve_node_port() -> None:
    config = yaml.safe_load((REPO_ROOT / "kind-cluster.yaml").read_text(encoding="utf-8"))
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    mappings = {
        int(m["containerPort"]): int(m["hostPort"])
        for node in config["nodes"]
        for m in node.get("extraPortMappings", [])
    }
    assert mappings.get(30080) == 80, "Pachyderm's proxy NodePort 30080 must be published on port 80"
    services = [load_spec(p) for p in SPEC_FILES if load_spec(p).is_service]
    for spec in services:
        port = int(spec.service["externalPort"])
        assert 30000 <= port <= 32767, f"{spec.name}: externalPort {port} outside the NodePort range"
        assert spec.service.get("type", "NodePort") == "NodePort"
        assert mappings.get(port) == port, f"kind-cluster.yaml does not publish {spec.name}'s NodePort {port}"


def test_spec_files_are_pretty_json_with_pachyderm_field_names() -> None:
    """pachd parses the text itself (CreatePipelineV2): camelCase, as `pachctl create pipeline -f` expects."""
    for spec_file in SPEC_FILES:
        document = json.loads(spec_file.read_text(encoding="utf-8"))
        snake = [key for key in document if "_" in key]
        assert not snake, f"{spec_file.name}: snake_case keys {snake}; write Pachyderm's camelCase"
