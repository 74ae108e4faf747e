"""The deploy script, run against a recording pachd: the exact requests a cluster would receive."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import grpc
import pytest

from deploy import cluster
from deploy.cli import main
from deploy.rawfiles import folder_files
from deploy.specs import load_specs
from tests.deploy.recording_pachd import RecordingPachd

REPO_ROOT = Path(__file__).resolve().parents[2]


def _spec(name: str, input_node: dict) -> str:
    document = {
        "pipeline": {"name": name},
        "description": f"test pipeline {name}",
        "input": input_node,
        "transform": {"image": f"stockpipe/{name}:0.1.0", "cmd": ["python3", "-m", f"stages.{name}"]},
    }
    return json.dumps(document, indent=2) + "\n"


@pytest.fixture
def dag_specs(tmp_path: Path) -> Path:
    """Four specs whose file (and name) order is not their DAG order: zeta <- raw, alpha <- zeta, ..."""
    folder = tmp_path / "specs"
    folder.mkdir()
    texts = {
        "zeta": _spec(
            "zeta",
            {
                "cross": [
                    {"pfs": {"name": "prices", "repo": "raw", "glob": "/*/*"}},
                    {"pfs": {"name": "meta", "repo": "raw", "glob": "/symbols_valid_meta.csv"}},
                ]
            },
        ),
        "alpha": _spec("alpha", {"pfs": {"name": "zeta", "repo": "zeta", "glob": "/*/*"}}),
        "beta": _spec("beta", {"pfs": {"name": "alpha", "repo": "alpha", "glob": "/"}}),
        "aardvark": _spec("aardvark", {"pfs": {"name": "beta", "repo": "beta", "glob": "/"}}),
    }
    for name, text in texts.items():
        (folder / f"{name}.json").write_text(text, encoding="utf-8")
    return folder


def _file_contents(modify_requests: list) -> dict[str, bytes]:
    """What a ModifyFile stream leaves in the commit: per path, the bytes added after its last delete."""
    contents: dict[str, bytearray] = defaultdict(bytearray)
    for request in modify_requests:
        if request.delete_file.path:
            contents[request.delete_file.path] = bytearray()
        elif request.add_file.path:
            contents[request.add_file.path] += request.add_file.raw
    return {path: bytes(data) for path, data in contents.items()}


def _expected_contents(folder: Path) -> dict[str, bytes]:
    return {"/" + p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_pipelines_creates_the_input_repo_then_every_spec_upstream_first(dag_specs: Path) -> None:
    with RecordingPachd() as pachd:
        assert main(["-q", "--pachd-address", pachd.address, "pipelines", "-f", str(dag_specs)]) == 0
    assert pachd.names() == ["CreateRepo"] + ["CreatePipelineV2"] * 4
    (create_repo,) = pachd.requests_of("CreateRepo")
    assert (create_repo.repo.name, create_repo.repo.type, create_repo.repo.project.name) == (
        "raw",
        "user",
        "default",
    )
    assert create_repo.update  # idempotent: an existing raw repo is kept
    sent = pachd.requests_of("CreatePipelineV2")
    assert [json.loads(r.create_pipeline_request_json)["pipeline"]["name"] for r in sent] == [
        "zeta",
        "alpha",
        "beta",
        "aardvark",
    ]
    for request in sent:
        name = json.loads(request.create_pipeline_request_json)["pipeline"]["name"]
        # the spec file's text itself, for pachd to parse, as `pachctl create pipeline -f` sends it
        assert request.create_pipeline_request_json == (dag_specs / f"{name}.json").read_text(
            encoding="utf-8"
        )
        assert request.update and not request.dry_run and not request.reprocess


def test_the_repository_specs_are_sent_upstream_first_as_written() -> None:
    spec_dir = REPO_ROOT / "specs"
    if not list(spec_dir.glob("*.json")):
        pytest.skip("no specs written yet")
    with RecordingPachd() as pachd:
        assert main(["-q", "--pachd-address", pachd.address, "pipelines", "-f", str(spec_dir)]) == 0
    assert [r.repo.name for r in pachd.requests_of("CreateRepo")] == ["raw"]
    created: list[str] = []
    for request in pachd.requests_of("CreatePipelineV2"):
        document = json.loads(request.create_pipeline_request_json)
        name = document["pipeline"]["name"]
        assert request.create_pipeline_request_json == (spec_dir / f"{name}.json").read_text(encoding="utf-8")
        upstream = {s.name for s in load_specs(spec_dir)} & set(
            load_specs(spec_dir / f"{name}.json")[0].input_repos
        )
        assert upstream <= set(created), f"{name} sent before its input pipelines {upstream - set(created)}"
        created.append(name)
    known_dag = ["ingest", "features", "train", "serve"]
    assert [n for n in created if n in known_dag] == [n for n in known_dag if n in created]


def test_put_raw_of_a_folder_sends_every_file_in_one_commit(sample_dir: Path, capsys) -> None:
    with RecordingPachd() as pachd:
        assert main(["-q", "--pachd-address", pachd.address, "put-raw", "-f", str(sample_dir)]) == 0
    assert pachd.names() == ["StartCommit", "ModifyFile", "FinishCommit"]
    (start,) = pachd.requests_of("StartCommit")
    assert (start.branch.repo.name, start.branch.name) == ("raw", "master")
    requests = pachd.requests_of("ModifyFile")
    (finish,) = pachd.requests_of("FinishCommit")
    assert requests[0].set_commit.id == finish.commit.id != ""
    assert _file_contents(requests[1:]) == _expected_contents(sample_dir)
    assert "/symbols_valid_meta.csv" in _file_contents(requests[1:])
    summary = capsys.readouterr().out
    assert "put 15 files" in summary and finish.commit.id in summary


def test_put_raw_of_the_kaggle_zip_unpacks_it_into_the_same_files(sample_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "stock-market-dataset.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(sample_dir.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(sample_dir).as_posix())
    with RecordingPachd() as pachd:
        assert main(["-q", "--pachd-address", pachd.address, "put-raw", "-f", str(archive)]) == 0
    assert pachd.names() == ["StartCommit", "ModifyFile", "FinishCommit"]
    assert _file_contents(pachd.requests_of("ModifyFile")[1:]) == _expected_contents(sample_dir)


def test_a_file_is_sent_in_chunks_below_the_message_limit(sample_dir: Path) -> None:
    from pachyderm_sdk.api import pfs

    files = folder_files(sample_dir / "stocks")
    commit = pfs.Commit(id="c0ffee", branch=pfs.Branch.from_uri("raw@master"))
    requests = list(cluster.modify_file_requests(commit, files, chunk_bytes=4096))
    assert requests[0].set_commit.id == "c0ffee"
    assert all(len(r.add_file.raw or b"") <= 4096 for r in requests[1:])
    aapl = b"".join(r.add_file.raw for r in requests if r.add_file.path == "/AAPL.csv")
    assert aapl == (sample_dir / "stocks" / "AAPL.csv").read_bytes()
    assert sum(1 for r in requests if r.add_file.path == "/AAPL.csv") > 2


def test_a_failed_put_drops_its_commit_and_says_why_in_one_line(sample_dir: Path, capsys) -> None:
    with RecordingPachd(fail={"ModifyFile": grpc.StatusCode.UNAVAILABLE}) as pachd:
        assert main(["-q", "--pachd-address", pachd.address, "put-raw", "-f", str(sample_dir)]) == 1
    assert pachd.names() == ["StartCommit", "ModifyFile", "DropCommitSet"]
    started = pachd.requests_of("ModifyFile")[0].set_commit.id
    assert pachd.requests_of("DropCommitSet")[0].commit_set.id == started
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "UNAVAILABLE" in error[0] and pachd.address in error[0]


def test_an_unreachable_pachd_is_a_one_line_error(dag_specs: Path, capsys) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    address = f"grpc://127.0.0.1:{port}"
    assert main(["-q", "--pachd-address", address, "pipelines", "-f", str(dag_specs)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and address in error[0] and "make cluster" in error[0]


def test_a_broken_spec_is_named_before_anything_is_sent(dag_specs: Path, capsys) -> None:
    (dag_specs / "broken.json").write_text('{"pipeline": {"name": "broken"}, "input": ', encoding="utf-8")
    with RecordingPachd() as pachd:
        assert main(["-q", "--pachd-address", pachd.address, "pipelines", "-f", str(dag_specs)]) == 1
    assert pachd.calls == []
    assert "broken.json: line 1 column" in capsys.readouterr().err


def test_a_spec_the_runner_refuses_is_never_sent(dag_specs: Path, capsys) -> None:
    """Both paths share the runner's strict validator: unknown fields stop the deploy."""
    document = json.loads((dag_specs / "beta.json").read_text(encoding="utf-8"))
    document["transform"]["imagee"] = "typo"
    (dag_specs / "beta.json").write_text(json.dumps(document), encoding="utf-8")
    with RecordingPachd() as pachd:
        assert main(["-q", "--pachd-address", pachd.address, "pipelines", "-f", str(dag_specs)]) == 1
    assert pachd.calls == []
    assert "beta.json: transform.imagee" in capsys.readouterr().err


def test_a_cycle_between_pipelines_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "a.json").write_text(_spec("a", {"pfs": {"repo": "b", "glob": "/"}}), encoding="utf-8")
    (tmp_path / "b.json").write_text(_spec("b", {"pfs": {"repo": "a", "glob": "/"}}), encoding="utf-8")
    assert main(["order", "-f", str(tmp_path)]) == 1
    assert "cycle: a -> b -> a" in capsys.readouterr().err


def test_order_and_repos_print_the_plan_for_the_pachctl_path(dag_specs: Path, capsys) -> None:
    assert main(["order", "-f", str(dag_specs)]) == 0
    order = [Path(line).stem for line in capsys.readouterr().out.split()]
    assert order == ["zeta", "alpha", "beta", "aardvark"]
    assert main(["repos", "-f", str(dag_specs)]) == 0
    assert capsys.readouterr().out.split() == ["raw"]


def test_predict_url_is_the_base_url_at_the_kind_host_port_of_the_serve_node_port(
    tmp_path: Path, capsys
) -> None:
    spec = tmp_path / "serve.json"
    spec.write_text(
        json.dumps({"service": {"type": "NodePort", "internalPort": 8000, "externalPort": 30800}})
    )
    kind = tmp_path / "kind.yaml"
    kind.write_text(
        "nodes:\n- role: control-plane\n  extraPortMappings:\n"
        "  - {containerPort: 30080, hostPort: 80}\n  - {containerPort: 30800, hostPort: 18000}\n"
    )
    assert main(["predict-url", "--spec", str(spec), "--kind-config", str(kind)]) == 0
    url = capsys.readouterr().out.strip()
    assert url == "http://localhost:18000"
    assert main(["predict-url", "--spec", str(spec), "--node-port"]) == 0
    assert capsys.readouterr().out.strip() == "30800"
    kind.write_text("nodes:\n- role: control-plane\n  extraPortMappings: []\n")
    assert main(["predict-url", "--spec", str(spec), "--kind-config", str(kind)]) == 1
    assert "no extraPortMappings entry with containerPort 30800" in capsys.readouterr().err


def test_help_explains_every_verb_with_examples() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    for verb in ("pipelines", "put-raw", "order", "repos", "predict-url"):
        assert f"python -m deploy {verb}" in result.stdout


def test_an_empty_file_is_still_added(tmp_path: Path) -> None:
    """Per file: one delete, then the content; an empty file gets one empty add so that it exists."""
    (tmp_path / "stocks").mkdir()
    (tmp_path / "symbols_valid_meta.csv").write_text("Nasdaq Traded,Symbol\n", encoding="utf-8")
    (tmp_path / "stocks" / "EMPTY.csv").write_bytes(b"")
    with RecordingPachd() as pachd:
        assert main(["-q", "--pachd-address", pachd.address, "put-raw", "-f", str(tmp_path)]) == 0
    requests = pachd.requests_of("ModifyFile")[1:]
    empty = [r for r in requests if "/stocks/EMPTY.csv" in (r.delete_file.path, r.add_file.path)]
    assert [(r.delete_file.path, r.add_file.path, r.add_file.raw) for r in empty] == [
        ("/stocks/EMPTY.csv", "", None),
        ("", "/stocks/EMPTY.csv", b""),
    ]
    assert len(requests) == 4  # delete + add for each of the two files
