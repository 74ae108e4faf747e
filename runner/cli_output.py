"""Plain-text output of the command line: aligned tables, human-readable sizes, JSON."""

from __future__ import annotations

import json
from typing import Any


def human_size(n: int) -> str:
    """``1536`` → ``1.5 KiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def table(rows: list[list[str]]) -> str:
    """Rows as left-aligned columns; the first row is the header."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return (
        "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows) + "\n"
    )


def print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=1))


def print_fields(doc: dict[str, Any], as_json: bool) -> None:
    """One object of ``inspect``: as JSON, or one ``key: value`` line per field (nested values as JSON)."""
    if as_json:
        print_json(doc)
        return
    width = max((len(key) for key in doc), default=0) + 2
    for key, value in doc.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else value
        print(f"{key + ':':<{width}}{shown}")
