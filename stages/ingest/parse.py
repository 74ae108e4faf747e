"""Bytes of one price CSV -> typed Arrow columns, with no file-system access.

Two readers produce the same :class:`ParsedPrices`:

* the fast reader, ``pyarrow.csv`` with explicit column types (``Date`` as date32, prices as
  float64, ``Volume`` as int64 or float64), used for every well-formed file;
* the strict reader, Python's ``csv`` module, used only when the fast reader refuses the file
  or the bytes hold something the fast reader would accept too leniently (spaces, hex ``0x``,
  quotes, tabs). It finds the exact line of a structural error and marks unparseable values
  one by one instead of failing the whole file.

Floats are parsed exactly as Python's ``float()`` does (correctly rounded; pyarrow uses
fast_float), never rounded afterwards.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from stages.common.schema import PRICE_COLUMNS, PRICE_CSV_COLUMNS

#: The exact header line every price file must start with.
HEADER: str = ",".join(PRICE_CSV_COLUMNS)
VALUE_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "Volume")

# Bytes after which the fast reader's leniency (whitespace trimming, hex integers, quoting)
# could differ from the strict rules: such files go to the strict reader.
_STRICT_ONLY_BYTES: tuple[bytes, ...] = (b" ", b"\t", b"x", b"X", b'"')
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INTEGER_RE = re.compile(r"[+-]?\d{1,18}\Z")
_EPOCH = dt.date(1970, 1, 1)
_NON_SPACE = re.compile(rb"\S")


class UnreadableFile(ValueError):
    """The file cannot be read as a price CSV at all (header, encoding, field count)."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line}: {why}")
        self.line = line
        self.why = why


@dataclass(frozen=True)
class ParsedPrices:
    """Typed columns of one price file, before any row is judged.

    ``table`` has ``Date`` (date32) and the value columns (prices float64, ``Volume`` int64
    or float64); a null is an empty field. ``unparseable`` maps a column to a boolean mask
    of fields that held text which is not a date/number (those fields are null in ``table``).
    ``date_text`` is the ``Date`` column as read, row for row, when every value is a valid
    ``YYYY-MM-DD`` date (the fast reader): the output keeps that text instead of formatting the
    dates again (pyarrow's date parser accepts that exact form only, so the two are the same).
    """

    table: pa.Table
    blank_lines: int
    volume_as_float_text: bool
    strict_reader: bool
    unparseable: dict[str, np.ndarray] = field(default_factory=dict)
    date_text: pa.ChunkedArray | None = None

    @property
    def rows_read(self) -> int:
        """Data lines of the file: parsed rows plus blank lines."""
        return self.table.num_rows + self.blank_lines


def describe_wrong_header(header: str) -> str:
    """Why ``header`` is not the price header, quoting it only if it is a recognisable CSV header.

    Recognisable: every field is one of the price columns (case and spaces aside), so quoting
    it copies nothing but known column names. Anything else (another file's first line, binary
    bytes, a password file) is described by its length only: the message lands in the quality
    record and the printed summary, and must not leak the bytes of whatever was put there.
    """
    fields = header.split(",")
    known = {c.lower() for c in PRICE_CSV_COLUMNS}
    if len(header) <= 200 and all(f.strip().lower() in known for f in fields):
        missing = [c for c in PRICE_CSV_COLUMNS if c.lower() not in {f.strip().lower() for f in fields}]
        extra = f"; missing {', '.join(missing)}" if missing else ""
        return f"header is {header!r}, expected {HEADER!r}{extra}"
    return (
        f"not a price CSV: the first line ({len(header.encode())} bytes, not shown) "
        f"is not the header {HEADER!r}"
    )


def parse_prices(data: bytes) -> ParsedPrices | None:
    """Parse the bytes of a price CSV; ``None`` for an empty or header-only file.

    Raises :class:`UnreadableFile` for a wrong header, undecodable bytes or a wrong field count.
    """
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if _NON_SPACE.search(data, start) is None:  # stops at the first other byte, copies nothing
        return None
    newline = data.find(b"\n", start)
    header_bytes = data[start:] if newline < 0 else data[start:newline]
    header = header_bytes.rstrip(b"\r").decode("utf-8", errors="replace")
    if header != HEADER:
        raise UnreadableFile(1, describe_wrong_header(header))
    body_start = len(data) if newline < 0 else newline + 1
    if _NON_SPACE.search(data, body_start) is None:
        return None
    # The markers are searched in place (no copy of the body: files are up to ~1.6 MB).
    if all(data.find(marker, body_start) < 0 for marker in _STRICT_ONLY_BYTES):
        parsed = _fast_read(data, body_start)
        if parsed is not None:
            return parsed
    return _strict_read(data[body_start:])


def _first_volume_is_float_text(data: bytes, body_start: int) -> bool:
    end = data.find(b"\n", body_start)
    first = data[body_start:] if end < 0 else data[body_start:end]
    last_field = first.rsplit(b",", 1)[-1]
    return b"." in last_field or b"e" in last_field or b"E" in last_field


@functools.cache
def _fast_options(
    volume_type: pa.DataType,
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """pyarrow's CSV options for one ``Volume`` type, built once per process."""
    # Date is read as text and parsed by a cast afterwards: as fast as parsing it while reading,
    # and the text is what the output stores.
    types = {"Date": pa.string(), **dict.fromkeys(PRICE_COLUMNS, pa.float64()), "Volume": volume_type}
    # ignore_empty_lines=False: a blank line (or a stray carriage return, which pyarrow takes
    # for a line end) becomes a row of nulls or a wrong field count, and the strict reader
    # takes the file over and counts it; a file the fast reader keeps has exactly one row per
    # data line, so no line needs counting (counting them cost ~0.12 ms a file).
    read = pacsv.ReadOptions(use_threads=False, block_size=1 << 26)
    parse = pacsv.ParseOptions(ignore_empty_lines=False)
    convert = pacsv.ConvertOptions(
        column_types=types, null_values=[""], strings_can_be_null=False, quoted_strings_can_be_null=False
    )
    return read, parse, convert


def _read_typed(data: bytes, volume_type: pa.DataType) -> pa.Table:
    read, parse, convert = _fast_options(volume_type)
    return pacsv.read_csv(
        pa.BufferReader(data), read_options=read, parse_options=parse, convert_options=convert
    )


def _fast_read(data: bytes, body_start: int) -> ParsedPrices | None:
    """The pyarrow reader; ``None`` when it refuses the file (the strict reader decides then)."""
    float_first = _first_volume_is_float_text(data, body_start)
    for volume_type in (pa.float64(), pa.int64()) if float_first else (pa.int64(), pa.float64()):
        try:
            table = _read_typed(data, volume_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if table.column_names != list(PRICE_CSV_COLUMNS):
            return None
        table = table.combine_chunks()
        date_text = table["Date"]
        try:
            # An empty Date (a blank line is a row of empty fields here) or an invalid one fails:
            # the strict reader tells blank lines from empty rows and counts invalid dates.
            days = pc.cast(date_text, pa.date32())
        except pa.ArrowInvalid:
            return None
        return ParsedPrices(
            table=table.set_column(0, "Date", days),
            blank_lines=0,
            volume_as_float_text=pa.types.is_floating(volume_type),
            strict_reader=False,
            date_text=date_text,
        )
    return None


def _strict_read(body: bytes) -> ParsedPrices:
    """Python's csv module: exact line numbers for structural errors, value-by-value parsing."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        line = body.count(b"\n", 0, err.start) + 2
        raise UnreadableFile(line, f"bytes are not UTF-8 ({body[err.start : err.start + 4]!r})") from None
    columns: list[list[str]] = [[] for _ in PRICE_CSV_COLUMNS]
    blank_lines = 0
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for fields in reader:
            if not fields:
                blank_lines += 1
                continue
            if len(fields) != len(PRICE_CSV_COLUMNS):
                raise UnreadableFile(
                    reader.line_num + 1, f"expected {len(PRICE_CSV_COLUMNS)} fields, got {len(fields)}"
                )
            for column, value in zip(columns, fields, strict=True):
                column.append(value)
    except csv.Error as err:
        raise UnreadableFile(reader.line_num + 1, f"malformed CSV ({err})") from None
    unparseable: dict[str, np.ndarray] = {}
    dates, bad_dates = _parse_dates(columns[0])
    arrays: dict[str, pa.Array] = {"Date": dates}
    if bad_dates.any():
        unparseable["Date"] = bad_dates
    for name, values in zip(PRICE_CSV_COLUMNS[1:], columns[1:], strict=True):
        array, bad = _parse_numbers(values, integer=name == "Volume")
        arrays[name] = array
        if bad.any():
            unparseable[name] = bad
    volume_type = arrays["Volume"].type
    return ParsedPrices(
        table=pa.table(arrays),
        blank_lines=blank_lines,
        volume_as_float_text=pa.types.is_floating(volume_type),
        strict_reader=True,
        unparseable=unparseable,
    )


def _parse_dates(texts: list[str]) -> tuple[pa.Array, np.ndarray]:
    days: list[int | None] = []
    bad = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        if not text:
            days.append(None)
            continue
        try:
            if not _DATE_RE.match(text):
                raise ValueError(text)
            days.append((dt.date.fromisoformat(text) - _EPOCH).days)
        except ValueError:
            days.append(None)
            bad[i] = True
    return pa.array(days, type=pa.int32()).cast(pa.date32()), bad


def _parse_numbers(texts: list[str], *, integer: bool) -> tuple[pa.Array, np.ndarray]:
    """Floats as ``float()`` parses them; ``Volume`` stays int64 if every value is integer text."""
    bad = np.zeros(len(texts), dtype=bool)
    if integer and all(not t or _INTEGER_RE.match(t) for t in texts):
        return pa.array([int(t) if t else None for t in texts], type=pa.int64()), bad
    values: list[float | None] = []
    for i, text in enumerate(texts):
        if not text:
            values.append(None)
        elif _NUMBER_RE.match(text):
            values.append(float(text))
        else:
            values.append(None)
            bad[i] = True
    return pa.array(values, type=pa.float64()), bad
