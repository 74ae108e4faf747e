"""The argument parser of ``python -m runner``: verbs and nouns as pachctl names them, each with
its help and an example (``python -m runner <verb> [<what>] --help``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runner.archive import FLAG_MAX_BYTES, FLAG_MAX_FILES, ZipLimits
from runner.executors.kinds import ExecutorKind
from runner.state import StateError

DESCRIPTION = """\
Run Pachyderm pipeline specs on this machine, with Pachyderm's semantics: repos with commits
and provenance, datums from globs (cross, union), unchanged datums skipped, outputs merged.
State lives in --state, or $PFS_STATE, or ./.pfs; the head of a repo's master branch is the
plain folder $PFS_STATE/<repo>/master/.

typical session (what `make pipeline` does):
  python -m runner update pipeline -f specs/
  python -m runner put file -r raw@master:/ -f data/sample
  python -m runner run
  python -m runner list job
  ls .pfs/ingest/master/stocks
"""

EXAMPLES = {
    "create repo": "python -m runner create repo raw",
    "create pipeline": (
        "python -m runner create pipeline -f specs/ingest.json\n  python -m runner create pipeline -f specs/"
    ),
    "update pipeline": (
        "python -m runner update pipeline -f specs/\n"
        "  python -m runner update pipeline -f specs/train.json --reprocess"
    ),
    "put file": (
        "python -m runner put file -r raw@master:/ -f data/sample\n"
        "  python -m runner put file -r --replace raw@master:/ -f data/sample   (raw = exactly that folder)\n"
        "  python -m runner put file raw@master:/ -f stock-market-dataset.zip\n"
        "  python -m runner put file raw@master:/stocks/AAPL.csv -f AAPL.csv"
    ),
    "list repo": "python -m runner list repo",
    "list commit": "python -m runner list commit ingest\n  python -m runner list commit raw@master --json\n"
    "  python -m runner list commit 3f2a9c...   (a commit id: that commit in every repo, a commit set)",
    "list job": "python -m runner list job\n  python -m runner list job -p ingest --json",
    "list datum": "python -m runner list datum ingest            (the pipeline's latest job)\n"
    "  python -m runner list datum ingest@3f2a9c  (a job id or prefix)",
    "list pipeline": "python -m runner list pipeline",
    "list file": "python -m runner list file ingest@master:/stocks\n"
    "  python -m runner list file 'raw@master:/stocks/A*'   (a glob pattern, as glob file)",
    "list branch": "python -m runner list branch raw",
    "glob file": "python -m runner glob file 'raw@master:/*/A*.csv'",
    "inspect file": "python -m runner inspect file raw@master:/stocks/AAPL.csv",
    "inspect datum": "python -m runner inspect datum ingest 0a1b2c3d4e5f6071  (PIPELINE[@JOB] or JOB)",
    "diff file": "python -m runner diff file raw@master          (against its parent commit)\n"
    "  python -m runner diff file raw@master:/stocks raw@3f2a9c",
    "wait commit": "python -m runner wait commit raw@master   (returns when everything downstream is done)",
    "inspect commit": "python -m runner inspect commit train@master --json",
    "inspect job": "python -m runner inspect job 3f2a9c",
    "inspect pipeline": "python -m runner inspect pipeline ingest",
    "get file": "python -m runner get file train@master:/metrics.json\n"
    "  python -m runner get file ingest@master:/stocks/AAPL.parquet -o AAPL.parquet",
    "logs": "python -m runner logs -p ingest\n  python -m runner logs --job 3f2a9c --datum 0a1b2c3d4e5f6071",
    "delete repo": "python -m runner delete repo raw --force",
    "delete pipeline": "python -m runner delete pipeline train",
    "delete file": "python -m runner delete file raw@master:/stocks/AAPL.csv",
    "run": "python -m runner run\n  PFS_STATE=/tmp/pfs python -m runner run\n"
    "  python -m runner run --executor docker   (each pipeline's datums in its transform.image)",
    "up": "python -m runner up --port 8000   (Ctrl-C stops; put file in another terminal)\n"
    "  python -m runner up --executor docker   (jobs in each pipeline's image, serve in stockpipe/api)",
    "graph": "python -m runner graph -f specs/ > dag.mmd",
    "debug datum": "python -m runner debug datum 3f2a9c 0a1b2c3d4e5f6071\n"
    "  python -m runner debug datum 3f2a9c 0a1b2c3d4e5f6071 --executor docker   (in the pipeline's image)",
    "fsck": "python -m runner fsck\n  python -m runner fsck --repair",
    "gc": "python -m runner gc",
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state", default=argparse.SUPPRESS, help="state folder (default: $PFS_STATE or .pfs)"
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="say more")
    top = argparse.ArgumentParser(
        prog="python -m runner",
        description=DESCRIPTION,
        epilog="one example per verb:\n  "
        + "\n  ".join(v.split("\n")[0] for v in EXAMPLES.values())
        + "\n\nEach verb explains itself: python -m runner <verb> [<what>] --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    verbs = top.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_: str) -> argparse._SubParsersAction:
        examples = "\n  ".join(v for k, v in EXAMPLES.items() if k.startswith(f"{name} "))
        p = verbs.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"examples:\n  {examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return p.add_subparsers(dest="noun", required=True, metavar="WHAT")

    def sub(group: Any, parent: str, name: str, help_: str) -> argparse.ArgumentParser:
        key = f"{parent} {name}".strip()
        return group.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"example:\n  {EXAMPLES[key]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )

    def single(name: str, help_: str) -> argparse.ArgumentParser:
        return sub(verbs, "", name, help_)

    create = verb("create", "create a repo or pipelines")
    p = sub(create, "create", "repo", "create an (input) repo")
    p.add_argument("repo")
    p.add_argument("-d", "--description", default="")
    p = sub(create, "create", "pipeline", "create pipelines from a spec file or a folder of *.json specs")
    p.add_argument("-f", "--file", required=True, type=Path, help="spec file or folder")

    update = verb("update", "create or replace pipelines")
    p = sub(
        update,
        "update",
        "pipeline",
        "create or replace pipelines (a changed spec reprocesses on the next run)",
    )
    p.add_argument("-f", "--file", required=True, type=Path, help="spec file or folder")
    p.add_argument("--reprocess", action="store_true", help="reprocess every datum even if unchanged")

    put = verb("put", "add files to a repo")
    p = sub(
        put, "put", "file", "add files to REPO@BRANCH:/PATH from a file, a folder (-r) or a .zip (unpacked)"
    )
    p.add_argument("target", metavar="REPO@BRANCH:/PATH")
    p.add_argument("-f", "--file", required=True, type=Path, help="file, folder or .zip archive")
    p.add_argument("-r", "--recursive", action="store_true", help="put every file below a folder")
    p.add_argument(
        "--replace",
        action="store_true",
        help="make PATH hold exactly the source: delete what is absent from it, in the same commit "
        "(runner extension; pachctl: delete file + put file inside start/finish commit)",
    )
    p.add_argument(
        "--follow-links", action="store_true", help="follow symbolic links that stay inside the folder"
    )
    caps = ZipLimits()
    max_gib = caps.max_bytes >> 30
    p.add_argument(FLAG_MAX_BYTES, metavar="SIZE", help=f"a .zip may expand to this much ({max_gib}GiB)")
    p.add_argument(FLAG_MAX_FILES, metavar="N", help=f"a .zip may hold this many files ({caps.max_files})")

    lst = verb("list", "list repos, branches, commits, jobs, datums, pipelines or files")
    p = sub(lst, "list", "repo", "list repos with their head commit")
    p.add_argument("--json", action="store_true")
    p = sub(
        lst,
        "list",
        "commit",
        "list the commits of REPO[@BRANCH], newest first; or, given a commit ID, the commit set: "
        "every repo's commit with that ID (a put and the output commits it caused) and their provenance",
    )
    p.add_argument("target", metavar="REPO[@BRANCH]|ID")
    p.add_argument("--json", action="store_true")
    p = sub(lst, "list", "job", "list jobs, newest first")
    p.add_argument("-p", "--pipeline")
    p.add_argument("--json", action="store_true")
    p = sub(lst, "list", "datum", "list the datums of a job: PIPELINE (latest job), PIPELINE@JOB or JOB")
    p.add_argument("target", metavar="PIPELINE[@JOB]|JOB")
    p.add_argument("--json", action="store_true")
    p = sub(lst, "list", "pipeline", "list pipelines")
    p.add_argument("--json", action="store_true")
    p = sub(lst, "list", "file", "list files at REPO@BRANCH:/PATH (a PATH with *?[{ is a glob pattern)")
    p.add_argument("target", metavar="REPO@BRANCH:/PATH")
    p = sub(lst, "list", "branch", "list the branches of REPO with their head commits")
    p.add_argument("repo")
    p.add_argument("--json", action="store_true")

    glob = verb("glob", "list the files and folders matching a glob pattern")
    p = sub(glob, "glob", "file", "files and folders of REPO@BRANCH matching PATTERN (pfs's glob rules)")
    p.add_argument("target", metavar="REPO@BRANCH:PATTERN")
    p.add_argument("--json", action="store_true")

    diff = verb("diff", "compare the files of two commits")
    p = sub(diff, "diff", "file", "paths added, deleted or changed from OLD (default: NEW's parent) to NEW")
    p.add_argument("new", metavar="NEW=REPO@REF[:/PATH]")
    p.add_argument("old", metavar="OLD=REPO@REF", nargs="?")
    p.add_argument("--json", action="store_true")

    wait = verb("wait", "wait for a commit and everything downstream of it")
    p = sub(wait, "wait", "commit", "return when every pipeline downstream of REPO@REF has processed it")
    p.add_argument("target", metavar="REPO@BRANCH|REPO@COMMIT")
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 1)")
    p.add_argument("--json", action="store_true")

    inspect = verb("inspect", "show one commit, job, pipeline, file or datum")
    p = sub(inspect, "inspect", "commit", "show a commit and its provenance (REPO@BRANCH or REPO@COMMIT)")
    p.add_argument("target", metavar="REPO@BRANCH|REPO@COMMIT")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p = sub(inspect, "inspect", "job", "show a job (id or unique prefix)")
    p.add_argument("job")
    p.add_argument("--json", action="store_true")
    p = sub(inspect, "inspect", "pipeline", "show a pipeline's spec and state")
    p.add_argument("pipeline")
    p = sub(inspect, "inspect", "file", "show a file (size, content hash) or a folder of REPO@REF:/PATH")
    p.add_argument("target", metavar="REPO@REF:/PATH")
    p.add_argument("--json", action="store_true")
    p = sub(inspect, "inspect", "datum", "show one datum of a job: its state, inputs, files, hash")
    p.add_argument("job", metavar="PIPELINE[@JOB]|JOB")
    p.add_argument("datum", help="datum id or prefix (list datum)")
    p.add_argument("--json", action="store_true")

    get = verb("get", "read a file of a commit")
    p = sub(get, "get", "file", "print a file of REPO@BRANCH:/PATH (or write it with -o)")
    p.add_argument("target", metavar="REPO@BRANCH:/PATH")
    p.add_argument("-o", "--output", type=Path)

    p = single("logs", "print a job's log, each line tagged with its datum id")
    p.add_argument("-p", "--pipeline", help="latest job of this pipeline")
    p.add_argument("--job", help="job id or prefix")
    p.add_argument("--datum", help="only this datum's lines")

    delete = verb("delete", "delete a repo, a pipeline or files")
    p = sub(delete, "delete", "repo", "delete a repo and its commits")
    p.add_argument("repo")
    p.add_argument("--force", action="store_true", help="even if pipelines read it")
    p = sub(delete, "delete", "pipeline", "delete a pipeline and its output repo")
    p.add_argument("pipeline")
    p.add_argument("--keep-repo", action="store_true", help="keep the output repo")
    p = sub(delete, "delete", "file", "delete a file or folder from REPO@BRANCH (a new commit)")
    p.add_argument("target", metavar="REPO@BRANCH:/PATH")

    p = single("run", "run every pipeline whose inputs have new commits, in DAG order, until none is left")
    p.add_argument("--workers", type=int, help="at most this many workers per job (default: the spec's)")
    add_executor(p)

    p = single("up", "keep running: a job whenever an input gets a commit, services kept up and reloaded")
    p.add_argument("--cores", type=int, help="cores shared by the running jobs (default: every core)")
    p.add_argument("--host", default="127.0.0.1", help="HOST of every service pipeline (default: 127.0.0.1)")
    p.add_argument("--port", help="PORT of every service pipeline (default: its spec's)")
    add_executor(p, services=True)

    p = single("graph", "print the DAG of the specs as Mermaid flowchart text")
    p.add_argument("-f", "--file", type=Path, help="spec file or folder (default: the created pipelines)")

    p = single("fsck", "check every record and re-hash every committed file (exit 1 on any problem)")
    p.add_argument("--repair", action="store_true", help="fix what can be fixed, mark what cannot")
    single("gc", "remove objects no commit or datum cache references, and interrupted verbs' temporaries")

    debug = verb("debug", "re-run one datum of a job, as run runs it")
    p = sub(
        debug,
        "debug",
        "datum",
        "stage one datum's inputs, run it as run does, print its log, keep the folder",
    )
    p.add_argument("job", help="job id or prefix (list job)")
    p.add_argument("datum", help="datum id (list datum, or the failure message)")
    add_executor(p)
    return top


def add_executor(p: argparse.ArgumentParser, services: bool = False) -> None:
    """The ``--executor`` option of run, up and debug datum."""
    also = "; service pipelines run from their image, published on --host:--port" if services else ""
    p.add_argument(
        "--executor",
        choices=[kind.value for kind in ExecutorKind],
        default=ExecutorKind.LOCAL.value,
        help="where datums run: local (this machine's Python, the default) or docker (each pipeline's "
        f"transform.image, one container per worker{also})",
    )


def parse_target(text: str) -> tuple[str, str, str]:
    """``repo@branch:/path`` → (repo, branch, path); branch defaults to master, path to /."""
    repo_ref, _, path = text.partition(":")
    repo, _, ref = repo_ref.partition("@")
    if not repo:
        raise StateError(f"{text!r}: expected REPO@BRANCH:/PATH")
    return repo, ref or "master", path or "/"
