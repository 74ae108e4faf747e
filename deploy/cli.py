"""`python -m deploy`: create the pipelines of specs/ on Pachyderm and put the raw data, with pachyderm-sdk.

The same steps as `pachctl create repo raw`, `pachctl create pipeline -f specs/<each>.json`
(upstream first) and `pachctl put file -r raw@master:/ -f <folder>`, without pachctl.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.specs import SpecError, dag_order, load_specs, source_repos

if TYPE_CHECKING:
    from pachyderm_sdk import Client

log = logging.getLogger("deploy")

#: Where `make cluster` exposes pachd: Pachyderm's proxy NodePort 30080, mapped to port 80 of the host
#: by kind-cluster.yaml.
DEFAULT_PACHD_ADDRESS = "grpc://localhost:80"
PACHCTL_CONFIG = Path.home() / ".pachyderm" / "config.json"

EPILOG = """\
examples:
  python -m deploy pipelines -f specs/                 # create raw, then ingest, features, train, serve
  python -m deploy put-raw -f data/sample               # one commit into raw@master
  python -m deploy put-raw -f ~/stock-market-dataset.zip   # the Kaggle zip, unpacked while sent
  python -m deploy put-raw -f kaggle                    # download it first (Kaggle credentials)
  python -m deploy order -f specs/                      # the spec files in the order to create them
  python -m deploy repos -f specs/                      # the input repos to create first (raw)
  python -m deploy predict-url                          # http://localhost:30800, where serve answers

pachd address: --pachd-address, else $PACHD_ADDRESS, else the active context of pachctl's config
(~/.pachyderm/config.json, written by `pachctl connect`), else grpc://localhost:80 (make cluster).
"""


class DeployError(Exception):
    """A deploy step cannot run; the message says what to do."""


def connect(address: str | None) -> Client:
    """A client for the pachd at ``address``, or the one pachctl is connected to."""
    from pachyderm_sdk import Client

    if address:
        log.info("connecting to pachd at %s", address)
        return Client.from_pachd_address(address)
    if PACHCTL_CONFIG.is_file():
        log.info("connecting to pachd of pachctl's active context (%s)", PACHCTL_CONFIG)
        return Client.from_config(PACHCTL_CONFIG)
    log.info("connecting to pachd at %s (no pachctl config found)", DEFAULT_PACHD_ADDRESS)
    return Client.from_pachd_address(DEFAULT_PACHD_ADDRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pachd-address",
        default=os.environ.get("PACHD_ADDRESS"),
        help="pachd to talk to, e.g. grpc://localhost:80 (default: $PACHD_ADDRESS or pachctl's context)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines, only errors")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    pipelines = verbs.add_parser(
        "pipelines",
        help="create the input repos and create-or-update every pipeline, upstream first",
        description="Create the repos the specs read and no pipeline writes (raw), then send each "
        "spec's JSON text to pachd (CreatePipelineV2, update=true) in DAG order.",
    )
    pipelines.add_argument("-f", "--file", type=Path, default=Path("specs"), help="spec file or folder")
    pipelines.add_argument("--project", default="default", help="Pachyderm project of the repos")

    put_raw = verbs.add_parser(
        "put-raw",
        help="put a folder, the Kaggle zip or `kaggle` (download) into raw@master in one commit",
        description="Put every file of RAW into the branch in ONE commit (a failed put drops its "
        "commit). RAW is a folder in the Kaggle layout, the Kaggle zip, or the word kaggle.",
    )
    put_raw.add_argument("-f", "--file", dest="raw", required=True, help="folder, .zip, or kaggle")
    put_raw.add_argument("--branch", default="raw@master", help="REPO@BRANCH to commit to")
    put_raw.add_argument("--download-dir", type=Path, default=Path("data/kaggle"), help="for RAW=kaggle")

    order = verbs.add_parser("order", help="print the spec files in the order to create them")
    order.add_argument("-f", "--file", type=Path, default=Path("specs"), help="spec file or folder")

    repos = verbs.add_parser("repos", help="print the input repos the specs read and no pipeline writes")
    repos.add_argument("-f", "--file", type=Path, default=Path("specs"), help="spec file or folder")

    url = verbs.add_parser("predict-url", help="print the base URL of the serve pipeline on the kind cluster")
    url.add_argument("--spec", type=Path, default=Path("specs/serve.json"), help="the service pipeline spec")
    url.add_argument("--kind-config", type=Path, default=Path("kind-cluster.yaml"), help="kind config")
    url.add_argument("--host", default="localhost", help="host name of the kind node's port mappings")
    url.add_argument("--node-port", action="store_true", help="print only the service's NodePort")
    return parser


def _put_raw(client: Client, args: argparse.Namespace) -> int:
    from deploy.cluster import put_files
    from deploy.rawfiles import open_source
    from tools.fetch_raw import RawInputError, resolve_raw

    try:
        source = resolve_raw(args.raw, os.environ, Path.home(), args.download_dir)
    except RawInputError as exc:
        raise DeployError(str(exc)) from exc
    with open_source(source) as files:
        log.info("putting %d files from %s into %s", len(files), source, args.branch)
        summary = put_files(client, files, args.branch, description=f"stockpipe put-raw of {source.name}")
    print(
        f"put {summary.files:,} files ({summary.bytes / 1e6:,.1f} MB) from {source} into {summary.branch} "
        f"in one commit {summary.commit_id} in {summary.seconds:.1f} s"
    )
    return 0


def run(args: argparse.Namespace, client_factory: Callable[[str | None], Client]) -> int:
    if args.verb == "order":
        for spec in dag_order(load_specs(args.file)):
            print(spec.path)
        return 0
    if args.verb == "repos":
        print("\n".join(source_repos(load_specs(args.file))))
        return 0
    if args.verb == "predict-url":
        from deploy.serving import service_node_port, service_url

        if args.node_port:
            print(service_node_port(args.spec))
        else:
            print(service_url(args.spec, args.kind_config, args.host))
        return 0
    if args.verb == "pipelines":
        from deploy.cluster import deploy_pipelines

        specs = load_specs(args.file)
        created = deploy_pipelines(client_factory(args.pachd_address), specs, args.project)
        print(f"created or updated {len(created)} pipelines in order: {', '.join(created)}")
        return 0
    if args.verb == "put-raw":
        return _put_raw(client_factory(args.pachd_address), args)
    raise AssertionError(f"unhandled verb {args.verb}")


def main(argv: list[str] | None = None, client_factory: Callable[[str | None], Client] = connect) -> int:
    """Run one verb; errors are one line on stderr and exit status 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="deploy: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    try:
        return run(args, client_factory)
    except ConnectionError as exc:  # pachyderm_sdk's "Could not connect to pachyderm instance"
        address = args.pachd_address or "pachctl's active context"
        print(
            f"deploy: cannot reach pachd at {address} ({str(exc).strip()}): is the cluster up? "
            "`make cluster`, then `pachctl version`",
            file=sys.stderr,
        )
        return 1
    except (SpecError, DeployError, ValueError, OSError) as exc:
        for line in str(exc).strip().splitlines():
            print(f"deploy: {line}", file=sys.stderr)
        return 1
    except Exception as exc:
        import grpc

        if isinstance(exc, grpc.RpcError):
            address = args.pachd_address or "pachctl's active context"
            print(
                f"deploy: pachd at {address} answered {exc.code().name}: {exc.details()} "
                "(is the cluster up? `make cluster`, then `pachctl version`)",
                file=sys.stderr,
            )
            return 1
        raise
