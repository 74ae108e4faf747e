"""Every image really built and run: the stages on the bundled sample, the API on loopback, hygiene.

Each stage image runs its spec's `cmd` (and `env`) as Pachyderm's worker would: /pfs/<input>
mounted read-only, /pfs/out writable, as the image's own user, no network. Its outputs must equal
those of the same stage run locally (`python -m stages.<name>` in .venv) on the same inputs:
Parquet by content, everything else byte for byte. Skipped, with the reason, without a daemon.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runner.spec import load_spec
from tests.images import docker
from tools.image_list import read_images

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "data" / "sample"
VERSION = "0.1.0"
PIPELINE_IMAGE = f"stockpipe/pipeline:{VERSION}"
IMAGES = read_images()
STAGES = [image.name for image in IMAGES if image.is_stage]
#: Files whose content holds times and durations of the run, compared by name only
#: (metrics.json and model.json are compared without their machine-dependent keys).
RUN_DEPENDENT = {"train.log", "evaluate.log"}
#: Names no image may hold where the project's files and users' homes are: credentials and keys.
#: (System CA certificates in /etc/ssl and certifi's bundle in site-packages are public, not checked.)
CREDENTIAL_NAME = re.compile(
    r"(^|/)(kaggle\.json|access_token|\.env(\..*)?|\.netrc|id_rsa.*|id_ed25519.*|.*\.pem|.*\.p12)$"
)
PROJECT_AND_HOMES = ("app/", "root/", "home/", "tmp/", "pfs/")

UNAVAILABLE = docker.docker_unavailable()
pytestmark = [pytest.mark.slow]
if UNAVAILABLE is not None:
    pytestmark.append(pytest.mark.skip(reason=f"container tests skipped: {UNAVAILABLE.reason}"))


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """Name -> tag of every image of images.txt and the root image, built (or found cached) here."""
    base = docker.choose_base()
    if base is None:
        pytest.skip(
            f"container tests skipped: the daemon holds neither {docker.pinned_base()} nor "
            f"{docker.LOCAL_BASE_IMAGE} (make base-image builds the latter)"
        )
    tags = {}
    for image in IMAGES:
        docker.build(image.dockerfile, image.tag(VERSION), base)
        tags[image.name] = image.tag(VERSION)
    docker.build("Dockerfile", PIPELINE_IMAGE, base)
    tags["pipeline"] = PIPELINE_IMAGE
    return tags


def _inputs(stage: str, upstream: dict[str, Path]) -> dict[str, Path]:
    """Input name -> local folder for the stage: the sample for ingest, else the upstream outputs."""
    spec = load_spec(REPO_ROOT / "specs" / f"{stage}.json")
    assert spec.input is not None
    folders = {}
    for pfs in spec.input.pfs_inputs():
        folders[pfs.name] = SAMPLE if pfs.repo == "raw" else upstream[pfs.repo]
    return folders


def _writable_out(path: Path) -> Path:
    path.mkdir(parents=True)
    path.chmod(0o777)  # the image's user (UID 1000) writes here whoever runs the tests
    return path


def _image_command(tag: str, stage: str, inputs: dict[str, Path], out: Path) -> list[str]:
    """`docker run` of the spec's cmd and env, as Pachyderm's worker runs it: /pfs mounted, no network."""
    spec = load_spec(REPO_ROOT / "specs" / f"{stage}.json")
    mounts = [arg for name, folder in inputs.items() for arg in ("-v", f"{folder}:/pfs/{name}:ro")]
    env = [arg for key, value in spec.env.items() for arg in ("-e", f"{key}={value}")]
    return [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        *mounts,
        "-v",
        f"{out}:/pfs/out",
        *env,
        tag,
        *spec.cmd,
    ]


def _local_command(stage: str, inputs: dict[str, Path], out: Path) -> list[str]:
    """The same cmd with the .venv's Python and local folders in place of /pfs/<input> and /pfs/out."""
    spec = load_spec(REPO_ROOT / "specs" / f"{stage}.json")
    paths = {f"/pfs/{name}": str(folder) for name, folder in inputs.items()} | {"/pfs/out": str(out)}
    command = [paths.get(arg, arg) for arg in spec.cmd]
    assert command[0] == "python3", f"{stage}: cmd {spec.cmd} does not start with python3"
    return [sys.executable, *command[1:]]


def _run_both(stage: str, image_command: list[str], local_command: list[str]) -> None:
    """Both runs at once (train takes most of a minute each on 2 cores), each must exit 0."""
    spec = load_spec(REPO_ROOT / "specs" / f"{stage}.json")
    env = {**os.environ, **spec.env}
    runs = {
        "in its image": subprocess.Popen(
            image_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ),
        "locally": subprocess.Popen(
            local_command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ),
    }
    for where, process in runs.items():
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, f"{stage} {where} failed ({process.returncode}):\n{output}"


@pytest.fixture(scope="module")
def stage_outputs(
    images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Path]]:
    """Stage -> (output of its image, output of the local run), each stage on its upstream's output."""
    root = tmp_path_factory.mktemp("stages")
    in_image: dict[str, Path] = {}
    local: dict[str, Path] = {}
    for stage in STAGES:
        in_image[stage] = _writable_out(root / "image" / stage)
        local[stage] = root / "local" / stage
        _run_both(
            stage,
            _image_command(images[stage], stage, _inputs(stage, in_image), in_image[stage]),
            _local_command(stage, _inputs(stage, local), local[stage]),
        )
    return {stage: (in_image[stage], local[stage]) for stage in STAGES}


#: Keys of metrics.json, model.json and evaluate's comparison.json that measure the run (time, memory,
#: when: evaluate copies the model's ``trained_at``) or name the interpreter's patch release (the base's:
#: Debian's 3.11.2 in the stand-in), not the model or its scores.
MACHINE_DEPENDENT = re.compile(r"seconds|latency|rss|trained_at$|^python$")
#: The JSON outputs compared without those keys.
MODEL_JSON = ("metrics.json", "model.json", "comparison.json")


def _model_facts(value: object) -> object:
    """The JSON value without its machine-dependent keys."""
    if isinstance(value, dict):
        return {k: _model_facts(v) for k, v in value.items() if not MACHINE_DEPENDENT.search(k)}
    if isinstance(value, list):
        return [_model_facts(v) for v in value]
    return value


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


#: Columns computed by the reference RandomForest, whose sums may differ in the last bit between
#: the image's libraries and the machine's (measured: 6 of 8,425 rows, relative 2.4e-16).
LAST_BIT_COLUMNS = {"random_forest_reference"}


def _assert_same_table(ours: pa.Table, theirs: pa.Table, what: str) -> None:
    assert ours.schema.equals(theirs.schema), f"{what}: schemas differ"
    for name in ours.column_names:
        if name in LAST_BIT_COLUMNS:
            assert np.allclose(ours[name].to_numpy(), theirs[name].to_numpy(), rtol=1e-12, atol=0), (
                f"{what}: {name}"
            )
        else:
            assert ours[name].equals(theirs[name]), f"{what}: column {name} differs"


@pytest.mark.parametrize("stage", STAGES)
def test_stage_image_gives_the_outputs_of_the_local_stage(
    stage: str, stage_outputs: dict[str, tuple[Path, Path]]
) -> None:
    image_out, local_out = stage_outputs[stage]
    files = _files(local_out)
    assert files, f"the local {stage} wrote nothing"
    assert _files(image_out) == files
    for relative in sorted(files - RUN_DEPENDENT):
        ours, theirs = image_out / relative, local_out / relative
        if relative.endswith(".parquet"):
            _assert_same_table(pq.read_table(ours), pq.read_table(theirs), f"{stage}: {relative}")
        elif relative in MODEL_JSON:
            assert _model_facts(json.loads(ours.read_bytes())) == _model_facts(
                json.loads(theirs.read_bytes())
            ), f"{stage}: {relative} differs beyond times, memory and the Python patch release"
        else:
            assert ours.read_bytes() == theirs.read_bytes(), f"{stage}: {relative} differs"


def test_stage_outputs_are_written_by_the_image_user(stage_outputs: dict[str, tuple[Path, Path]]) -> None:
    for stage, (image_out, _) in stage_outputs.items():
        owners = {p.stat().st_uid for p in image_out.rglob("*")}
        assert owners == {docker.RUNTIME_UID}, f"{stage}: outputs owned by {owners}"


def _free_port_of(container: str) -> int:
    result = subprocess.run(
        ["docker", "port", container, "8000/tcp"], capture_output=True, text=True, check=True
    )
    address = result.stdout.split()[0]
    assert address.startswith("127.0.0.1:"), f"the API port is published on {address}, not loopback only"
    return int(address.rpartition(":")[2])


@pytest.fixture(scope="module")
def api_url(images: dict[str, str], stage_outputs: dict[str, tuple[Path, Path]]) -> Iterator[str]:
    """The API image serving the model the train image wrote, published on 127.0.0.1 only."""
    model_dir = stage_outputs["train"][0]
    started = subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "-p",
            "127.0.0.1::8000",
            "-v",
            f"{model_dir}:/pfs/train:ro",
            images["api"],
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    container = started.stdout.strip()
    try:
        url = f"http://127.0.0.1:{_free_port_of(container)}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True).stderr
                pytest.fail(f"the API container did not answer /healthz within 60 s:\n{logs}")
            time.sleep(0.3)
        yield url
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_api_image_predicts_what_the_model_predicts(
    api_url: str, stage_outputs: dict[str, tuple[Path, Path]]
) -> None:
    from api.model import load_model

    model = load_model(stage_outputs["train"][0])
    query = {"vol_moving_avg": 2500000.0, "adj_close_rolling_med": 41.5}
    status, body = _get(f"{api_url}/predict?vol_moving_avg=2500000&adj_close_rolling_med=41.5")
    assert status == 200, body
    answer = json.loads(body)
    assert isinstance(answer, int) and answer > 0
    assert answer == model.predict_one([query[name] for name in model.features])


def test_api_image_refuses_bad_input_with_400(api_url: str) -> None:
    status, body = _get(f"{api_url}/predict?vol_moving_avg=lots&adj_close_rolling_med=41.5")
    assert status == 400
    assert b"vol_moving_avg" in body


@pytest.mark.parametrize("name", [*(image.name for image in IMAGES), "pipeline"])
def test_image_runs_as_its_non_root_user(name: str, images: dict[str, str]) -> None:
    assert docker.image_user(images[name]) == f"{docker.RUNTIME_UID}:{docker.RUNTIME_UID}"
    result = docker.run(images[name], "id", "-u", docker_args=["--network", "none", "--entrypoint", ""])
    assert result.stdout.strip() == str(docker.RUNTIME_UID), result.stderr


@pytest.mark.parametrize("name", [*(image.name for image in IMAGES), "pipeline"])
def test_image_holds_no_credentials_and_not_the_build_machines_ca_bundle(
    name: str, images: dict[str, str]
) -> None:
    """The CA bundle reaches pip as a BuildKit secret only: no file of the image has its bytes."""
    bundle = Path(os.environ.get("CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
    machine_bundle = bundle.read_bytes() if bundle.is_file() else None
    same_size = []
    for member in docker.image_members(images[name]):
        in_project = member.name.startswith(PROJECT_AND_HOMES) and "/site-packages/" not in member.name
        assert not (in_project and CREDENTIAL_NAME.search(member.name)), f"{images[name]} holds {member.name}"
        assert not member.name.startswith(("run/secrets/", "tmp/requirements")), (
            f"{images[name]}: {member.name}"
        )
        if machine_bundle is not None and member.isfile() and member.size == len(machine_bundle):
            same_size.append(member.name)
    if same_size:
        contents = docker.image_file_bytes(images[name], set(same_size))
        copies = [path for path, data in contents.items() if data == machine_bundle]
        assert not copies, f"{images[name]} holds the build machine's CA bundle at {copies}"
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", images[name]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ca-certificates.crt" not in history, "a build step names the CA bundle"


def test_root_image_is_read_only_to_its_user_except_the_state_folder(images: dict[str, str]) -> None:
    script = (
        "touch /app/Makefile 2>/dev/null && echo code-writable; "
        "touch /app/new-file 2>/dev/null && echo app-writable; "
        "touch /app/.pfs/probe && echo state-writable; "
        "find /app -path /app/.pfs -prune -o ! -user root -print | head -5"
    )
    result = docker.run(images["pipeline"], "sh", "-c", script, docker_args=["--network", "none"])
    assert result.stdout.split() == ["state-writable"], result.stdout + result.stderr


def test_credentials_planted_in_a_checkout_do_not_reach_the_root_image(
    images: dict[str, str], tmp_path: Path
) -> None:
    """A checkout holding kaggle.json, .env and a key builds an image without them (cached layers reused)."""
    checkout = tmp_path / "checkout"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for relative in filter(None, tracked):
        source = REPO_ROOT / relative
        if source.is_file():
            (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
            (checkout / relative).write_bytes(source.read_bytes())
            (checkout / relative).chmod(source.stat().st_mode)
    planted = ["kaggle.json", ".env", "api/.env", "tools/id_rsa", "data/sample/kaggle.json", ".pfs/raw/x.csv"]
    for relative in planted:
        (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
        (checkout / relative).write_text("secret\n", encoding="utf-8")
    tag = "stockpipe/pipeline:credentials-probe"
    result = subprocess.run(
        [str(checkout / "tools/images/build.sh"), "Dockerfile", tag],
        cwd=checkout,
        env={**os.environ, "BASE_IMAGE": docker.choose_base() or ""},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        names = {member.name for member in docker.image_members(tag)}
        assert "app/Makefile" in names
        leaked = [relative for relative in planted if f"app/{relative}" in names]
        assert not leaked, f"the root image holds {leaked}"
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
