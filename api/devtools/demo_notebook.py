"""Execute docs/serving-demo.ipynb against a real local server and save it with its outputs.

    python -m api.devtools.demo_notebook --model MODEL_DIR [--notebook docs/serving-demo.ipynb]

Starts gunicorn (api/gunicorn_conf.py) on a free 127.0.0.1 port with MODEL_DIR, runs every cell
with nbclient in a kernel whose environment has API_URL set to that server, writes the
notebook back in place, and stops the server.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import nbclient
import nbformat

from api.devtools.server import REPO_ROOT, running_server

log = logging.getLogger("demo-notebook")


def execute_notebook(notebook: Path, base_url: str, timeout: int = 120) -> nbformat.NotebookNode:
    """Run every cell of ``notebook`` with API_URL=base_url; returns the executed notebook."""
    nb = nbformat.read(notebook, as_version=4)
    previous = os.environ.get("API_URL")
    os.environ["API_URL"] = base_url  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}
        )
        client.execute()
    finally:
        if previous is None:
            os.environ.pop("API_URL", None)
        else:
            os.environ["API_URL"] = previous
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="model folder to serve")
    parser.add_argument("--notebook", type=Path, default=Path("docs/serving-demo.ipynb"))
    parser.add_argument(
        "--provenance", type=Path, help="the train commit's JSON (runner inspect commit --json)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="demo-notebook: %(message)s", force=True)
    with running_server(args.model.resolve(), provenance=args.provenance) as server:
        log.info("server %s serving %s", server.url, args.model)
        nb = execute_notebook(args.notebook, server.url)
    nbformat.write(nb, args.notebook)
    cells = sum(1 for c in nb.cells if c.cell_type == "code")
    print(f"demo-notebook: executed {cells} code cells against {server.url}; wrote {args.notebook}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
