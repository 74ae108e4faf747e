"""The part of YAML that pipeline specs use, read as pachctl reads it (standard library only).

``load_documents(text, file) -> list[Any]`` returns one JSON-like value per YAML document
(``---`` / ``...`` markers). Supported: block mappings and sequences (also a sequence at the
indentation of its parent key), flow ``[...]``/``{...}`` over several lines (JSON is flow YAML),
single/double quoted and plain scalars (multi-line plain scalars folded), ``|``/``>`` block
scalars with ``-``/``+`` chomping and an indentation digit, and comments. Anchors, aliases,
tags, ``?`` complex keys and directives raise ``YamlError`` naming the file and line.

Scalars resolve as pachctl resolves them: gopkg.in/yaml.v3 tags each plain scalar (YAML 1.2
core schema: ``yes``/``on`` are strings), then src/internal/ppsutil/decoder.go ``yamlToJSON``
turns the tagged node into JSON and refuses what it cannot convert: an integer that is not plain
decimal (``007``, ``0x1f``, ``+1``), a float that is no JSON number once a leading ``.`` gets
its ``0`` (``.inf``, ``1.``), a timestamp, a key that is not a string. It also drops every
``$schema`` key. Mapping keys given twice keep the last value, as ``yamlToJSON``'s map does.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any

#: decoder.go intRegexp: the only integer spelling pachctl passes on.
_PACHCTL_INT = re.compile(r"^(0|(-?[1-9][0-9]*))$")
#: What Go's strconv.ParseInt(s, 0, 64) takes (yaml.v3 then tags the scalar !!int).
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$")
#: yaml.v3 yamlStyleFloat, plus its .inf/.nan spellings.
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_YAML_SPECIAL_FLOAT = re.compile(r"^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")
_JSON_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")
_TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?$")
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
SCHEMA_KEY = "$schema"
_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_FLOW_END = ",[]{}"


class YamlError(ValueError):
    """Text outside the supported subset or invalid; the message is ``<file>: line N: <why>``."""


class _Plain(str):
    """A plain (unquoted) scalar before resolution (quoted scalars are plain ``str``)."""

    pos: int = 0

    @classmethod
    def at(cls, text: str, pos: int) -> _Plain:
        plain = cls(text)
        plain.pos = pos
        return plain


def load_documents(text: str, file: str) -> list[Any]:
    """Every document of ``text`` as a JSON-like value (dict, list, str, int, float, bool, None)."""
    return _Parser(text, file).documents()


class _Parser:
    def __init__(self, text: str, file: str) -> None:
        self.text = text.replace("\r\n", "\n").lstrip("\ufeff")
        self.file = file
        self.pos = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]

    # -- positions and errors ------------------------------------------------------------------
    def fail(self, why: str, pos: int | None = None) -> YamlError:
        line = bisect.bisect_right(self.line_starts, self.pos if pos is None else pos)
        return YamlError(f"{self.file}: line {line}: {why}")

    def col(self, pos: int | None = None) -> int:
        p = self.pos if pos is None else pos
        return p - self.line_starts[bisect.bisect_right(self.line_starts, p) - 1]

    def peek(self, offset: int = 0) -> str:
        p = self.pos + offset
        return self.text[p] if p < len(self.text) else ""

    def at_line_start(self) -> bool:
        return self.col() == 0

    def skip_inline_space(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.pos += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            while self.peek() not in ("\n", ""):
                self.pos += 1

    def skip_to_content(self) -> None:
        """Past spaces, comments and line breaks; stops at the first content character (or end)."""
        while True:
            self.skip_inline_space()
            self.skip_comment()
            if self.peek() == "\n":
                self.pos += 1
                continue
            if self.peek() and "\t" in self.text[self.line_starts[self._line_index()] : self.pos]:
                raise self.fail("a tab may not indent YAML (use spaces)")
            return

    def _line_index(self) -> int:
        return bisect.bisect_right(self.line_starts, self.pos) - 1

    def rest_of_line_is_empty(self) -> bool:
        p = self.pos
        while p < len(self.text) and self.text[p] in " \t":
            p += 1
        return p >= len(self.text) or self.text[p] in "\n#"

    def is_marker(self, marker: str) -> bool:
        return (
            self.at_line_start()
            and self.text.startswith(marker, self.pos)
            and self.peek(3) in (" ", "\t", "\n", "")
        )

    # -- documents -----------------------------------------------------------------------------
    def documents(self) -> list[Any]:
        docs: list[Any] = []
        self.skip_to_content()
        explicit = False
        while self.pos < len(self.text):
            if self.peek() == "%" and self.at_line_start():
                raise self.fail("directives (%YAML, %TAG) are outside the supported YAML subset")
            if self.is_marker("---"):
                self.pos += 3
                explicit = True
                self.skip_to_content()
                if self.pos >= len(self.text) or self.is_marker("---") or self.is_marker("..."):
                    docs.append(None)
                    continue
            if self.is_marker("..."):
                self.pos += 3
                self.skip_to_content()
                explicit = False
                continue
            if docs and not explicit:
                raise self.fail("a second document must start with '---'")
            start = self.pos
            if self.at_line_start() and self.peek() == " ":
                raise self.fail("document content is indented")
            docs.append(_resolve_tree(self.block_node(-1, start), self))
            explicit = False
            self.skip_to_content()
            if self.pos < len(self.text) and not (self.is_marker("---") or self.is_marker("...")):
                raise self.fail("unexpected content after the end of the document")
        return docs

    # -- block context -------------------------------------------------------------------------
    def block_node(self, parent_indent: int, _start: int) -> Any:
        """The node at the current position (already at content), more indented than the parent."""
        self.refuse_unsupported()
        col = self.col()
        ch = self.peek()
        if ch == "-" and self.peek(1) in (" ", "\n", "\t", ""):
            return self.block_sequence(col)
        if ch in "[{":
            value = self.flow_node()
            return self.after_flow_maybe_key(value, col)
        if ch in "|>":
            return self.block_scalar(parent_indent)
        if self.line_is_mapping_key():
            return self.block_mapping(col)
        if ch in "'\"":
            return self.quoted(block_indent=parent_indent)
        return self.plain(parent_indent, flow=False)

    def after_flow_maybe_key(self, value: Any, col: int) -> Any:
        self.skip_inline_space()
        if self.peek() == ":":
            raise self.fail("a [...] or {...} mapping key is outside the supported YAML subset")
        return value

    def refuse_unsupported(self) -> None:
        ch = self.peek()
        if ch == "&":
            raise self.fail("anchors (&name) are outside the supported YAML subset")
        if ch == "*":
            raise self.fail("aliases (*name) are outside the supported YAML subset")
        if ch == "!":
            raise self.fail("tags (!tag) are outside the supported YAML subset")
        if ch == "?" and self.peek(1) in (" ", "\n", "\t", ""):
            raise self.fail("complex keys ('? ') are outside the supported YAML subset")
        if ch == "\t":
            raise self.fail("a tab may not indent YAML")
        if ch in "@`":
            raise self.fail(f"a plain scalar cannot start with {ch!r}")

    def line_is_mapping_key(self) -> bool:
        """Whether the text from here is ``key:`` (a quoted or plain key, then ': ' or ':' at EOL)."""
        save = self.pos
        try:
            if self.peek() in "'\"":
                try:
                    self.quoted(block_indent=None)
                except YamlError:
                    return False
                self.skip_inline_space()
                return self.peek() == ":" and self.peek(1) in (" ", "\t", "\n", "")
            p = self.pos
            while p < len(self.text) and self.text[p] != "\n":
                if self.text[p] == ":" and (p + 1 >= len(self.text) or self.text[p + 1] in " \t\n"):
                    return True
                if self.text[p] == "#" and p > self.pos and self.text[p - 1] in " \t":
                    return False
                p += 1
            return False
        finally:
            self.pos = save

    def block_mapping(self, indent: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        while True:
            self.refuse_unsupported()
            key_pos = self.pos
            if self.peek() in "'\"":
                key: Any = self.quoted(block_indent=None)
            elif self.peek() in "[{":
                raise self.fail("a [...] or {...} mapping key is outside the supported YAML subset")
            else:
                key = self.plain_key()
            self.skip_inline_space()
            if self.peek() != ":":
                raise self.fail("expected ':' after a mapping key")
            self.pos += 1
            resolved = _resolve_key(key, self, key_pos)
            out[resolved] = self.block_value(indent, in_mapping=True)
            self.skip_to_content()
            if self.pos >= len(self.text) or self.is_marker("---") or self.is_marker("..."):
                return out
            col = self.col()
            if col < indent:
                return out
            if col > indent:
                raise self.fail("bad indentation of a mapping entry")
            if self.peek() == "-" and self.peek(1) in (" ", "\n", ""):
                raise self.fail("a sequence entry where a mapping key was expected")
            if not self.line_is_mapping_key():
                raise self.fail("expected a 'key: value' line in this mapping")

    def plain_key(self) -> _Plain:
        start = self.pos
        while True:
            ch = self.peek()
            if ch in ("\n", ""):
                raise self.fail("expected ':' after a mapping key")
            if ch == ":" and self.peek(1) in (" ", "\t", "\n", ""):
                break
            self.pos += 1
        return _Plain.at(self.text[start : self.pos].rstrip(" \t"), start)

    def block_value(self, indent: int, in_mapping: bool) -> Any:
        """The value after ``key:`` or ``- ``: on this line, or the more indented lines below."""
        self.skip_inline_space()
        if not self.rest_of_line_is_empty():
            ch = self.peek()
            if ch in "|>":
                return self.block_scalar(indent)
            if in_mapping and ch == "-" and self.peek(1) in (" ", "\t", "\n", ""):
                raise self.fail("a sequence cannot start on the line of its mapping key")
            if in_mapping and ch not in "[{|>" and self.line_is_mapping_key():
                raise self.fail("mapping values are not allowed here (quote a value holding ': ')")
            return self.block_node(indent, self.pos)
        self.skip_to_content()
        if self.pos >= len(self.text) or self.is_marker("---") or self.is_marker("..."):
            return _Plain("")
        col = self.col()
        seq_here = self.peek() == "-" and self.peek(1) in (" ", "\t", "\n", "")
        if col > indent or (in_mapping and col == indent and seq_here):
            return self.block_node(indent, self.pos)
        return _Plain("")

    def block_sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while True:
            self.pos += 1  # the '-'
            out.append(self.block_value(indent, in_mapping=False))
            self.skip_to_content()
            if self.pos >= len(self.text) or self.is_marker("---") or self.is_marker("..."):
                return out
            col = self.col()
            if col < indent:
                return out
            if col > indent:
                raise self.fail("bad indentation of a sequence entry")
            if not (self.peek() == "-" and self.peek(1) in (" ", "\t", "\n", "")):
                return out  # a mapping key at the indentation of its sequence value

    def block_scalar(self, parent_indent: int) -> str:
        style = self.peek()
        self.pos += 1
        chomp, explicit_indent = "clip", None
        for _ in range(2):
            ch = self.peek()
            if ch in "+-":
                chomp = "keep" if ch == "+" else "strip"
                self.pos += 1
            elif ch.isdigit() and ch != "0":
                explicit_indent = int(ch)
                self.pos += 1
        self.skip_inline_space()
        self.skip_comment()
        if self.peek() not in ("\n", ""):
            raise self.fail("unexpected text after a block scalar indicator")
        self.pos += 1
        lines: list[str] = []
        indent = max(parent_indent, 0) + explicit_indent if explicit_indent else None
        while self.pos < len(self.text):
            end = self.text.find("\n", self.pos)
            end = len(self.text) if end < 0 else end
            line = self.text[self.pos : end]
            stripped = line.lstrip(" ")
            lead = len(line) - len(stripped)
            if stripped and indent is None:
                if lead <= parent_indent:
                    break
                indent = lead
            if stripped and indent is not None and lead < indent:
                break  # the first line of what follows: leave it to the caller
            lines.append(line[indent:] if indent is not None else "")
            self.pos = min(end + 1, len(self.text))
        body_lines = lines
        while body_lines and body_lines[-1] == "":
            body_lines = body_lines[:-1]
        trailing = len(lines) - len(body_lines)
        body = "\n".join(body_lines) if style == "|" else _fold_block(body_lines)
        if not body_lines:
            return "\n" * trailing if chomp == "keep" else ""
        if chomp == "strip":
            return body
        if chomp == "clip":
            return body + "\n"
        return body + "\n" + "\n" * trailing

    def plain(self, parent_indent: int, flow: bool) -> _Plain:
        """A plain scalar; in block context it may continue on more indented lines (folded)."""
        first = self.peek()
        if first in "-?:" and self.peek(1) in (" ", "\t", "\n", ""):
            raise self.fail(f"a plain scalar cannot start with '{first} '")
        if first in "%@`" or (first in ",[]{}" and not flow):
            raise self.fail(f"a plain scalar cannot start with {first!r}")
        parts: list[str] = []
        first_pos = self.pos
        blank_lines = 0
        while True:
            start = self.pos
            while True:
                ch = self.peek()
                if ch in ("\n", ""):
                    break
                after = self.peek(1)
                if ch == ":" and (after in (" ", "\t", "\n", "") or (flow and after in _FLOW_END)):
                    break
                if ch == "#" and self.pos > start and self.text[self.pos - 1] in " \t":
                    break
                if flow and ch in _FLOW_END:
                    break
                self.pos += 1
            piece = self.text[start : self.pos].rstrip(" \t")
            if parts:
                parts.append("\n" * blank_lines if blank_lines else " ")
            parts.append(piece)
            # Continue on the next line only if it is more indented and not a key or comment.
            if self.peek() != "\n":
                break
            save = self.pos
            blank_lines = 0
            self.pos += 1
            while True:
                self.skip_inline_space() if flow else self._skip_spaces_only()
                if self.peek() == "\n":
                    blank_lines += 1
                    self.pos += 1
                    continue
                break
            col = self.col()
            ch = self.peek()
            if (
                not ch
                or ch == "#"
                or (not flow and col <= parent_indent)
                or self.is_marker("---")
                or self.is_marker("...")
                or (not flow and self.line_is_mapping_key())
                or (flow and ch in _FLOW_END)
            ):
                self.pos = save
                break
        return _Plain.at("".join(parts), first_pos)

    def _skip_spaces_only(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    # -- quoted scalars ------------------------------------------------------------------------
    def quoted(self, block_indent: int | None) -> str:
        quote = self.peek()
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise self.fail("unterminated quoted string", start)
            if quote == "'" and ch == "'":
                if self.peek(1) == "'":
                    out.append("'")
                    self.pos += 2
                    continue
                self.pos += 1
                return "".join(out)
            if quote == '"' and ch == '"':
                self.pos += 1
                return "".join(out)
            if quote == '"' and ch == "\\":
                self.pos += 1
                esc = self.peek()
                if esc == "\n":
                    self.pos += 1
                    while self.peek() in (" ", "\t") and self.peek():
                        self.pos += 1
                    continue
                if esc in _HEX_ESCAPES:
                    n = _HEX_ESCAPES[esc]
                    digits = self.text[self.pos + 1 : self.pos + 1 + n]
                    if len(digits) != n or not all(c in "0123456789abcdefABCDEF" for c in digits):
                        raise self.fail(f"bad escape \\{esc}{digits}")
                    out.append(chr(int(digits, 16)))
                    self.pos += 1 + n
                    continue
                if esc not in _ESCAPES:
                    raise self.fail(f"unknown escape \\{esc}")
                out.append(_ESCAPES[esc])
                self.pos += 1
                continue
            if ch == "\n":
                if block_indent is None:
                    raise self.fail("a mapping key may not span lines")
                # Fold: trailing spaces dropped, one break → space, more breaks → newlines.
                while out and out[-1] in (" ", "\t"):
                    out.pop()
                breaks = 0
                while self.peek() == "\n":
                    breaks += 1
                    self.pos += 1
                    while self.peek() in (" ", "\t") and self.peek():
                        self.pos += 1
                out.append(" " if breaks == 1 else "\n" * (breaks - 1))
                continue
            out.append(ch)
            self.pos += 1

    # -- flow context --------------------------------------------------------------------------
    def flow_skip(self) -> None:
        while True:
            ch = self.peek()
            if ch in (" ", "\t", "\n") and ch:
                self.pos += 1
            elif ch == "#" and (self.pos == 0 or self.text[self.pos - 1] in " \t\n"):
                self.skip_comment()
            else:
                return

    def flow_node(self) -> Any:
        self.flow_skip()
        self.refuse_unsupported_flow()
        ch = self.peek()
        if ch == "[":
            return self.flow_collection("]")
        if ch == "{":
            return self.flow_collection("}")
        if ch in "'\"":
            return self.quoted(block_indent=-1)
        if not ch:
            raise self.fail("unexpected end of text inside [...] or {...}")
        return self.plain(-1, flow=True)

    def refuse_unsupported_flow(self) -> None:
        ch = self.peek()
        if ch in "&*!":
            self.refuse_unsupported()
        if ch == "?" and self.peek(1) in (" ", "\n", "\t", ""):
            self.refuse_unsupported()

    def flow_collection(self, close: str) -> Any:
        open_pos = self.pos
        self.pos += 1
        is_map = close == "}"
        items: list[Any] = []
        mapping: dict[Any, Any] = {}
        while True:
            self.flow_skip()
            if not self.peek():
                raise self.fail(f"unclosed {self.text[open_pos]!r}", open_pos)
            if self.peek() == close:
                self.pos += 1
                return mapping if is_map else items
            if is_map:
                key_pos = self.pos
                key = self.flow_node()
                if isinstance(key, (dict, list)):
                    raise self.fail("a [...] or {...} mapping key is outside the supported YAML subset")
                self.flow_skip()
                value: Any = _Plain("")
                if self.peek() == ":":
                    self.pos += 1
                    self.flow_skip()
                    if self.peek() not in (",", close):
                        value = self.flow_node()
                mapping[_resolve_key(key, self, key_pos)] = value
            else:
                item = self.flow_node()
                self.flow_skip()
                if self.peek() == ":":
                    raise self.fail("a 'key: value' pair inside [...] is outside the supported YAML subset")
                items.append(item)
            self.flow_skip()
            if not self.peek():
                raise self.fail(f"unclosed {self.text[open_pos]!r}", open_pos)
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != close:
                raise self.fail(f"expected ',' or {close!r} in a flow collection")


def _fold_block(lines: list[str]) -> str:
    """Folded (``>``) block content: a single break between two normal lines becomes a space;
    breaks next to more-indented lines, and empty lines, are kept."""
    out: list[str] = []
    prev: str | None = None
    empties = 0
    for line in lines:
        if line == "":
            empties += 1
            continue
        if prev is None:
            out.append("\n" * empties)
        elif prev.startswith((" ", "\t")) or line.startswith((" ", "\t")):
            out.append("\n" + "\n" * empties)
        else:
            out.append("\n" * empties if empties else " ")
        out.append(line)
        prev, empties = line, 0
    return "".join(out)


def _resolve_key(key: Any, parser: _Parser, pos: int) -> str:
    value = _resolve_scalar(key, parser, pos) if isinstance(key, _Plain) else key
    if not isinstance(value, str):
        raise parser.fail(f"mapping keys must be strings, not {json.dumps(value)}", pos)
    return value


def _resolve_tree(node: Any, parser: _Parser) -> Any:
    if isinstance(node, dict):
        return {k: _resolve_tree(v, parser) for k, v in node.items() if k != SCHEMA_KEY}
    if isinstance(node, list):
        return [_resolve_tree(v, parser) for v in node]
    if isinstance(node, _Plain):
        return _resolve_scalar(node, parser, node.pos)
    return node


def _resolve_scalar(text: _Plain, parser: _Parser, pos: int | None) -> Any:
    """yaml.v3's tag for a plain scalar, then decoder.go's conversion to JSON."""
    s = str(text)
    if s in _NULLS:
        return None
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    if _GO_INT.match(s):
        if not _PACHCTL_INT.match(s):
            raise parser.fail(f"integer {s!r} is not plain decimal (pachctl refuses it)", pos)
        return int(s)
    if _YAML_FLOAT.match(s) or _YAML_SPECIAL_FLOAT.match(s):
        as_json = "0" + s if s.startswith(".") else s
        if not _JSON_NUMBER.match(as_json):
            raise parser.fail(f"number {s!r} has no JSON spelling (pachctl refuses it)", pos)
        return float(as_json)
    if _TIMESTAMP.match(s):
        raise parser.fail(f"{s!r} reads as a timestamp, which pachctl refuses: quote it", pos)
    return s
