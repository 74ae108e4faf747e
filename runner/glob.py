"""Pachyderm's glob patterns, compiled once to a Python regular expression.

Pachyderm matches pfs globs with its ohmyglob library, compiled with ``/`` as the separator
(src/server/pfs/server/paths.go ``globMatchFunction``; the library's lexer, parser and compiler are
github.com/pachyderm/ohmyglob ``syntax/lexer/lexer.go``, ``syntax/ast/parser.go``,
``compiler/compiler.go``). This module follows the same grammar and produces an equivalent regex:

- ``*`` any run of characters but ``/``; ``?`` one character but ``/``; ``**`` any run of
  characters, ``/`` included, so ``/**file1?`` matches at any depth and ``/**/*.csv`` needs at
  least one folder (it does not match ``/a.csv``);
- ``[abc]``, ``[a-c]``, ``[!abc]`` / ``[^abc]`` character classes (a negated class also matches
  ``/``, as in ohmyglob), ``[[:digit:]]`` POSIX names;
- ``{a,b}`` alternatives (not captured);
- ``(a|b)`` / ``@(...)``, ``*(...)``, ``+(...)``, ``?(...)``, ``!(...)`` capture groups, numbered
  from 1 in the order their ``(`` appears: ``$1``, ``$2`` in ``joinOn`` / ``groupBy``;
- ``\\c`` the character ``c`` itself.

A glob is first cleaned as pachd cleans it (src/internal/pfsfile/pfsfile.go ``CleanPath``): a
missing leading ``/`` is added, a trailing ``/`` and ``.``/``..`` segments go. A path is matched
with its trailing ``/`` removed; the root ``/`` is matched by the glob ``/`` only.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

#: ohmyglob's lexer marks: markers never found in a path (not valid in UTF-8 text).
_CLOSE_NEGATION = "\uffff"
_BOUNDARY = "\ufffe"
#: Characters Go's regexp.QuoteMeta escapes (ohmyglob quotes class contents with it, so a ``-``
#: between two characters stays a range). ``&`` and ``~`` are escaped too: Python warns about them
#: doubled inside a class.
_CLASS_SPECIALS = frozenset("\\.+*?()|[]{}^$&~")
_POSIX_CLASSES = {
    ":alnum:": "0-9A-Za-z",
    ":alpha:": "A-Za-z",
    ":ascii:": "\x00-\x7f",
    ":blank:": "\t ",
    ":cntrl:": "\x00-\x1f\x7f",
    ":digit:": "0-9",
    ":graph:": "!-~]",
    ":lower:": "a-z",
    ":print:": " -~",
    ":punct:": "!-/:-@[-`{-~",
    ":space:": "\t\n\v\f\r ",
    ":upper:": "A-Z",
    ":word:": "0-9A-Za-z_",
    ":xdigit:": "0-9A-Fa-f",
}
_ANY_BUT_SEPARATOR = "[^/]"
_BASIC_BREAKERS = frozenset("?*[{(")
_EXTENDED_BREAKERS = _BASIC_BREAKERS | frozenset("@!^+")
_CAPTURE_BREAKERS = _EXTENDED_BREAKERS | frozenset(")|")
_TERMS_BREAKERS = _EXTENDED_BREAKERS | frozenset("},")
_TEMPLATE_RE = re.compile(r"\$(?:\$|\{(\d+)\}|(\d+))")


class GlobError(ValueError):
    """A glob pattern Pachyderm would refuse; the message names the pattern."""


def clean_path(path: str) -> str:
    """pachd's ``CleanPath``: ``"" -> "/"``, ``"abc/" -> "/abc"``, ``"/a//b/./c" -> "/a/b/c"``."""
    cleaned = posixpath.normpath(path) if path else "."
    if cleaned == ".":
        return "/"
    return "/" + cleaned.strip("/")


# --- lexer: the token stream of ohmyglob's lexer ------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # text, any, super, single, range, terms_open, capture_open, separator, close
    text: str = ""
    negated: bool = False


class _Lexer:
    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.pos = 0
        self.terms = 0
        self.captures = 0
        self.tokens: list[_Token] = []

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def run(self) -> list[_Token]:
        while self.pos < len(self.src):
            self.item()
        return self.tokens

    def item(self) -> None:
        c = self.src[self.pos]
        self.pos += 1
        nxt = self.peek()
        if c == "{":
            self.terms += 1
            self.tokens.append(_Token("terms_open"))
        elif c == "," and self.terms:
            self.tokens.append(_Token("separator"))
        elif c == "}" and self.terms:
            self.tokens.append(_Token("close"))
            self.terms -= 1
        elif c == "|" and self.captures:
            self.tokens.append(_Token("separator"))
        elif c == "[":
            self.char_class()
        elif c == "(":
            self.open_capture("@")
        elif c in "@!^+?*" and nxt == "(":
            self.pos += 1
            self.open_capture(c)
        elif c in "@!^+":
            self.pos -= 1
            self.text(_BASIC_BREAKERS)
        elif c == ")" and self.captures:
            self.tokens.append(_Token("close"))
            self.captures -= 1
        elif c == "?":
            self.tokens.append(_Token("single"))
        elif c == "*":
            # "**(" is "*" followed by the capture "*(": the second star is read again.
            if nxt == "*" and self.src[self.pos + 1 : self.pos + 2] != "(":
                self.pos += 1
                self.tokens.append(_Token("super"))
            else:
                self.tokens.append(_Token("any"))
        else:
            self.pos -= 1
            if self.terms:
                self.text(_TERMS_BREAKERS)
            elif self.captures:
                self.text(_CAPTURE_BREAKERS)
            else:
                self.text(_EXTENDED_BREAKERS)

    def open_capture(self, quantifier: str) -> None:
        self.captures += 1
        self.tokens.append(_Token("capture_open", quantifier))

    def text(self, breakers: frozenset[str]) -> None:
        chars: list[str] = []
        escaped = False
        while self.pos < len(self.src):
            c = self.src[self.pos]
            if not escaped:
                if c == "\\":
                    escaped = True
                    self.pos += 1
                    continue
                if c in breakers:
                    break
            escaped = False
            chars.append(c)
            self.pos += 1
        if chars:
            self.tokens.append(_Token("text", "".join(chars)))

    def char_class(self) -> None:
        chars: list[str] = []
        negated = in_posix = escaped = False
        while True:
            if self.pos >= len(self.src):
                raise GlobError(f"glob {self.src!r}: '[' without a closing ']'")
            c = self.src[self.pos]
            self.pos += 1
            if not escaped:
                if c == "\\":
                    escaped = True
                    continue
                if c == "[":
                    in_posix = True
                if c == "]":
                    if not in_posix:
                        break
                    in_posix = False
                if not negated and c in "!^":
                    negated = True
                    continue
            escaped = False
            chars.append(c)
        text = "".join(chars)
        for name, members in _POSIX_CLASSES.items():
            text = text.replace(name, members)
        self.tokens.append(_Token("range", text, negated))


# --- parser: the syntax tree of ohmyglob's parser ------------------------------------------------


@dataclass(eq=False)
class _Node:
    kind: str  # pattern, any_of, capture, or a leaf: text, any, super, single, range
    value: str = ""
    negated: bool = False
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)

    def add(self, child: _Node) -> _Node:
        child.parent = self
        self.children.append(child)
        return child


def _parse(pattern: str) -> _Node:
    root = current = _Node("pattern")
    for tok in _Lexer(pattern).run():
        if tok.kind in ("text", "any", "super", "single", "range"):
            current.add(_Node(tok.kind, tok.text, tok.negated))
        elif tok.kind in ("terms_open", "capture_open"):
            group = current.add(_Node("any_of" if tok.kind == "terms_open" else "capture", tok.text))
            current = group.add(_Node("pattern"))
        elif tok.kind == "separator":
            assert current.parent is not None  # a separator is only lexed inside a group
            current = current.parent.add(_Node("pattern"))
        else:  # close
            if current.parent is None or current.parent.parent is None:
                raise GlobError(f"glob {pattern!r}: unbalanced '{{', '}}', '(' or ')'")
            current = current.parent.parent
    return root


# --- compiler: the regex ohmyglob's compiler builds ----------------------------------------------


def _quote_class(chars: str) -> str:
    return "".join("\\" + c if c in _CLASS_SPECIALS else c for c in chars)


def _compile(node: _Node, pattern: str) -> str:
    kind = node.kind
    if kind == "pattern":
        return "".join(_compile(c, pattern) for c in node.children)
    if kind == "any_of":
        if not node.children:
            return ""
        return "(?:" + "|".join(_compile(c, pattern) for c in node.children) + ")"
    if kind == "capture":
        if not node.children:
            return ""
        if node.value == "!":
            inner = (_CLOSE_NEGATION + "|").join(_compile(c, pattern) for c in node.children)
            return f"((?:(?!(?:{inner}{_CLOSE_NEGATION}))[^/]*))"
        inner = "|".join(_compile(c, pattern) for c in node.children)
        suffix = {"@": "", "*": "*", "+": "+", "?": "?"}.get(node.value)
        if suffix is None:
            raise GlobError(f"glob {pattern!r}: '{node.value}(' is not a capture group (use '!(' or '@(')")
        return f"({inner})" if not suffix else f"((?:{inner}){suffix})"
    if kind == "any":
        return _ANY_BUT_SEPARATOR + "*" + _BOUNDARY
    if kind == "super":
        return ".*" + _BOUNDARY
    if kind == "single":
        return _ANY_BUT_SEPARATOR
    if kind == "range":
        if not node.value:
            raise GlobError(f"glob {pattern!r}: empty character class '[]'")
        return "[" + ("^" if node.negated else "") + _quote_class(node.value) + "]"
    return re.escape(node.value) + _BOUNDARY  # text


def glob_regex(pattern: str) -> str:
    """The regular expression (Python syntax) of an already cleaned glob ``pattern``."""
    regex = _compile(_parse(pattern), pattern)
    # A negation ``!(...)`` reaches to the next ``*``, ``**`` or text after it, else to the end.
    close = regex.find(_CLOSE_NEGATION + ")")
    if close > 0:
        bounded = _BOUNDARY in regex[close:]
        regex = regex.replace(_CLOSE_NEGATION, "" if bounded else "$")
    return r"\A" + regex.replace(_BOUNDARY, "") + r"\Z"


@dataclass(frozen=True)
class Glob:
    """A compiled pfs glob: ``match`` a path, read its capture groups, expand ``$1`` templates."""

    pattern: str
    regex: re.Pattern[str]

    def match(self, path: str) -> bool:
        """pfs's verdict for one file or folder path (``/a/b`` or ``/a/b/``)."""
        if path == "/":
            return self.pattern == "/"
        return self.regex.match(path.rstrip("/")) is not None

    def captures(self, path: str) -> tuple[str, ...]:
        """The whole match then each group (``""`` for a group that took nothing); ``()`` if none."""
        found = self.regex.match(path.rstrip("/"))
        if found is None:
            return ()
        return (found.group(0), *(g or "" for g in found.groups()))

    def replace(self, path: str, template: str) -> str:
        """``template`` with ``$n`` / ``${n}`` replaced by capture group n of ``path``, ``$$`` by ``$``.

        As ohmyglob's ``Glob.Replace``: a group number past the last group gives ``""``; a ``$``
        not followed by a number stays as it is.
        """
        if "$" not in template:
            return template
        groups = self.captures(path)

        def expand(m: re.Match[str]) -> str:
            digits = m.group(1) or m.group(2)
            if digits is None:
                return "$"
            if len(digits) > 1 and digits[0] == "0":  # ohmyglob refuses leading zeros
                return ""
            n = int(digits)
            return groups[n] if n < len(groups) else ""

        return _TEMPLATE_RE.sub(expand, template)


def compile_glob(pattern: str) -> Glob:
    """Clean ``pattern`` as pachd does and compile it; raises ``GlobError`` naming the pattern."""
    cleaned = clean_path(pattern)
    try:
        regex = re.compile(glob_regex(cleaned))
    except re.error as exc:
        raise GlobError(f"glob {pattern!r}: not a valid pattern ({exc})") from exc
    return Glob(cleaned, regex)


def match_paths(glob: Glob, files: list[str]) -> dict[str, list[str]]:
    """Matched path → the files it holds, for every file or folder among ``files`` that ``glob``
    matches (src/server/pfs/server/server_file.go ``globFile``: a matched folder is one datum
    holding every file below it). Keys and file lists are sorted; folders have no trailing ``/``.
    """
    if glob.pattern == "/":
        return {"/": sorted(files)} if files else {}
    rx = glob.regex.match
    folders: set[str] = set()
    for path in files:
        parent = path.rpartition("/")[0]
        while parent and parent not in folders:
            folders.add(parent)
            parent = parent.rpartition("/")[0]
    matched_folders = {d for d in folders if rx(d)}
    groups: dict[str, list[str]] = {}
    for path in files:
        if rx(path):
            groups.setdefault(path, []).append(path)
        if matched_folders:
            parent = path.rpartition("/")[0]
            while parent:
                if parent in matched_folders:
                    groups.setdefault(parent, []).append(path)
                parent = parent.rpartition("/")[0]
    return {m: sorted(held) for m, held in sorted(groups.items())}
