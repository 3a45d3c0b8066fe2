"""Parse venue CSV files (Open Pubs or a plain CSV) into VenueInputs, one bad row never sinks the file.

Pure parsing, no database. Bytes are decoded per physical line so an invalid UTF-8 line is
reported and skipped; records are split by the csv module (quoted multi-line fields work) while
every record keeps the physical line numbers it came from (header = line 1). A record broken by
an unbalanced quote is reported and its following lines are parsed again, so a stray quote costs
one row, not the rest of the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, cast

from venue_pipeline.core.slugs import city_slug as make_city_slug
from venue_pipeline.core.slugs import venue_slug

ImportFormat = Literal["open_pubs", "csv"]

OPEN_PUBS_COLUMNS: tuple[str, ...] = (
    "fas_id",
    "name",
    "address",
    "postcode",
    "easting",
    "northing",
    "latitude",
    "longitude",
    "local_authority",
)
CSV_REQUIRED_COLUMNS: tuple[str, ...] = ("name", "address", "city", "country")
# Optional CSV columns: lat, lng, external_id, postcode.
OPEN_PUBS_COUNTRY = "United Kingdom"

MAX_RECORD_LINES = 20
"""A quoted field spanning more lines than this is taken for an unbalanced quote."""
MAX_RAW_CHARS = 500
"""Error rows keep this much of the raw text: enough to find it, not a copy of the file."""

_NULL_COORDINATES = frozenset({"", "\\N"})
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_BOM = b"\xef\xbb\xbf"


class ImportFormatError(ValueError):
    """The file as a whole cannot be read (no header, unknown format, missing columns)."""


@dataclass(frozen=True, slots=True)
class VenueInput:
    """One venue as read from a file, before it has a database id."""

    source: ImportFormat
    external_id: str
    name: str
    address: str | None
    postcode: str | None
    city_name: str
    city_slug: str
    country: str | None
    lat: float | None
    lng: float | None
    needs_geocoding: bool

    @property
    def slug(self) -> str:
        """The venue's stable slug (name-city-hash of source and external id)."""
        return venue_slug(self.name, self.city_name, self.external_id, source=self.source)


@dataclass(frozen=True, slots=True)
class RowError:
    """A skipped row: 1-based physical line (header = 1), a specific reason, and the raw text."""

    line: int
    reason: str
    raw: str


@dataclass(slots=True)
class ParseResult:
    """The venues kept and the rows skipped, in file order."""

    venues: list[VenueInput] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


# --------------------------------------------------------------------------- public API


def detect_format(header: str | Sequence[str]) -> ImportFormat:
    """Tell Open Pubs from the plain CSV by its header (a header line or a list of column names)."""
    columns = _header_columns(header)
    if set(OPEN_PUBS_COLUMNS) - {"easting", "northing"} <= set(columns):
        return "open_pubs"
    if set(CSV_REQUIRED_COLUMNS) <= set(columns):
        return "csv"
    raise ImportFormatError(
        f"unrecognised header {list(columns)!r}: expected Open Pubs "
        f"({','.join(OPEN_PUBS_COLUMNS)}) or a CSV with {','.join(CSV_REQUIRED_COLUMNS)}"
        f"[,lat,lng,external_id]"
    )


def parse_venues(
    path_or_file: str | os.PathLike[str] | IO[bytes] | IO[str],
    fmt: ImportFormat | None = None,
) -> ParseResult:
    """Parse a venue file; fmt None detects the format from the header."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with Path(path_or_file).open("rb") as fh:
            return _parse(fh, fmt)
    return _parse(_as_byte_lines(path_or_file), fmt)


def derive_external_id(name: str, address: str | None, city: str) -> str:
    """A stable id for a row that has none: the same name, address and city give the same id."""
    key = "\x1f".join(_normalise_key(part or "") for part in (name, address, city))
    return "h-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- physical lines


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    text: str
    bad_byte: int | None  # offset in the line of the first invalid UTF-8 byte


class _RecordTooLong(Exception):
    """Raised from inside the csv reader's line source to stop a runaway quoted field."""


class _LineSource:
    """Feeds decoded physical lines to csv.reader and remembers which lines each record used."""

    def __init__(self, byte_lines: Iterable[bytes]) -> None:
        self._byte_lines = iter(byte_lines)
        self._pushback: deque[_Line] = deque()
        self._count = 0
        self.taken: list[_Line] = []

    def __iter__(self) -> _LineSource:
        return self

    def __next__(self) -> str:
        if self._pushback:
            line = self._pushback.popleft()
        else:
            raw = next(self._byte_lines)  # StopIteration ends the csv reader
            self._count += 1
            if self._count == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            line = _decode(raw, self._count)
        self.taken.append(line)
        if len(self.taken) > MAX_RECORD_LINES:
            raise _RecordTooLong
        return line.text

    def push_back(self, lines: Sequence[_Line]) -> None:
        """Make these lines the next ones read, to parse them again."""
        self._pushback.extendleft(reversed(lines))


def _decode(raw: bytes, number: int) -> _Line:
    try:
        return _Line(number, raw.decode("utf-8"), None)
    except UnicodeDecodeError as exc:
        # Replacement keeps the record structure (invalid bytes are never quotes, commas or
        # newlines) so the record can be found and skipped as a whole.
        return _Line(number, raw.decode("utf-8", errors="replace"), exc.start)


@dataclass(frozen=True, slots=True)
class _Record:
    lines: list[_Line]
    fields: list[str] | None
    broken: str | None = None  # why the record structure is broken (fields is None then)

    @property
    def line(self) -> int:
        return self.lines[0].number

    @property
    def raw(self) -> str:
        text = "".join(line.text for line in self.lines).rstrip("\r\n")
        return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "…"

    @property
    def span(self) -> str:
        return f"lines {self.lines[0].number}-{self.lines[-1].number}"


def _records(byte_lines: Iterable[bytes]) -> Iterator[_Record]:
    """Yield the header, then every record; a record whose quoting is broken is re-split."""
    source = _LineSource(byte_lines)
    expected: int | None = None
    while True:
        reader = csv.reader(source)
        while True:
            source.taken = []
            try:
                fields = next(reader)
            except StopIteration:
                return
            except (csv.Error, _RecordTooLong) as exc:
                lines = list(source.taken)
                reason = (
                    f"unbalanced quote: a quoted field runs past {MAX_RECORD_LINES} lines"
                    if isinstance(exc, _RecordTooLong)
                    else f"malformed CSV: {exc}"
                )
                yield _Record(lines, None, reason)
                source.push_back(lines[1:])
                break  # a fresh reader: the old one is mid-record
            lines = list(source.taken)
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if expected is None:
                expected = len(fields)
            elif len(lines) > 1 and len(fields) != expected:
                span = f"lines {lines[0].number}-{lines[-1].number}"
                reason = (
                    f"unbalanced quote: record spanning {span} has {len(fields)} "
                    f"columns, expected {expected}"
                )
                yield _Record(lines, None, reason)
                source.push_back(lines[1:])
                break
            yield _Record(lines, fields)


def _as_byte_lines(fh: IO[bytes] | IO[str]) -> Iterator[bytes]:
    """Accept binary files (preferred) and text files (already decoded by the caller)."""
    for chunk in fh:
        yield chunk if isinstance(chunk, bytes) else chunk.encode("utf-8", errors="surrogateescape")


# --------------------------------------------------------------------------- rows to venues


class _RowRejected(Exception):
    """A row-level problem; the message is the RowError reason."""


def _parse(byte_lines: Iterable[bytes], fmt: ImportFormat | None) -> ParseResult:
    records = _records(byte_lines)
    header = next(records, None)
    if header is None:
        raise ImportFormatError("the file is empty: no header line")
    if header.fields is None or any(line.bad_byte is not None for line in header.lines):
        raise ImportFormatError(f"unreadable header on line {header.line}: {header.raw!r}")
    columns = _header_columns(header.fields)
    if fmt is None:
        fmt = detect_format(columns)
    _check_columns(columns, fmt)
    index = {name: i for i, name in enumerate(columns)}

    result = ParseResult()
    kept: list[tuple[_Record, VenueInput]] = []
    for record in records:
        error = _structural_error(record, len(columns))
        if error is not None:
            result.errors.append(error)
            continue
        row = cast(list[str], record.fields)
        try:
            venue = _open_pubs_venue(row, index) if fmt == "open_pubs" else _csv_venue(row, index)
        except _RowRejected as exc:
            result.errors.append(RowError(record.line, str(exc), record.raw))
            continue
        kept.append((record, venue))

    result.venues, duplicates = _keep_last(kept)
    result.errors.extend(duplicates)
    result.errors.sort(key=lambda e: e.line)
    return result


def _structural_error(record: _Record, n_columns: int) -> RowError | None:
    """Encoding, quoting and column-count problems, which make a row unreadable."""
    for line in record.lines:
        if line.bad_byte is not None:
            reason = f"invalid UTF-8 at byte {line.bad_byte}"
            if len(record.lines) > 1:
                reason += f" (in the record spanning {record.span})"
            return RowError(line.number, reason, record.raw)
    if record.fields is None:
        return RowError(record.line, record.broken or "malformed CSV", record.raw)
    if len(record.fields) != n_columns:
        return RowError(
            record.line,
            f"wrong column count: {len(record.fields)} columns, expected {n_columns}",
            record.raw,
        )
    return None


def _open_pubs_venue(row: list[str], index: dict[str, int]) -> VenueInput:
    def get(column: str) -> str:
        return _clean(row[index[column]])

    name = _required(get("name"), "name")
    external_id = _required(get("fas_id"), "fas_id")
    city = _required(get("local_authority"), "local_authority (city)")
    lat, lng = _coordinates(get("latitude"), get("longitude"))
    return VenueInput(
        source="open_pubs",
        external_id=external_id,
        name=name,
        address=get("address") or None,
        postcode=get("postcode") or None,
        city_name=city,
        city_slug=make_city_slug(city),
        country=OPEN_PUBS_COUNTRY,
        lat=lat,
        lng=lng,
        needs_geocoding=lat is None,
    )


def _csv_venue(row: list[str], index: dict[str, int]) -> VenueInput:
    def get(column: str) -> str:
        return _clean(row[index[column]]) if column in index else ""

    name = _required(get("name"), "name")
    city = _required(get("city"), "city")
    address = get("address") or None
    lat, lng = _coordinates(get("lat"), get("lng"))
    return VenueInput(
        source="csv",
        external_id=get("external_id") or derive_external_id(name, address, city),
        name=name,
        address=address,
        postcode=get("postcode") or None,
        city_name=city,
        city_slug=make_city_slug(city),
        country=get("country") or None,
        lat=lat,
        lng=lng,
        needs_geocoding=lat is None,
    )


def _coordinates(lat_text: str, lng_text: str) -> tuple[float | None, float | None]:
    """Both missing is fine (geocode later); anything else must be a real point on Earth."""
    lat_missing, lng_missing = lat_text in _NULL_COORDINATES, lng_text in _NULL_COORDINATES
    if lat_missing and lng_missing:
        return None, None
    if lat_missing or lng_missing:
        given = "longitude" if lat_missing else "latitude"
        raise _RowRejected(f"only {given} given: latitude and longitude must come as a pair")
    lat = _number(lat_text, "latitude")
    lng = _number(lng_text, "longitude")
    if not -90.0 <= lat <= 90.0:
        raise _RowRejected(f"latitude {lat_text} out of range [-90, 90]")
    if not -180.0 <= lng <= 180.0:
        raise _RowRejected(f"longitude {lng_text} out of range [-180, 180]")
    if lat == 0.0 and lng == 0.0:
        raise _RowRejected("coordinates (0, 0) are a placeholder, not a venue's location")
    return lat, lng


def _number(text: str, what: str) -> float:
    if not _DECIMAL.match(text):
        raise _RowRejected(f"non-numeric {what} {text!r}")
    value = float(text)
    if not math.isfinite(value):
        raise _RowRejected(f"non-numeric {what} {text!r}")
    return value


def _required(value: str, what: str) -> str:
    if not value:
        raise _RowRejected(f"missing {what}")
    return value


def _keep_last(kept: list[tuple[_Record, VenueInput]]) -> tuple[list[VenueInput], list[RowError]]:
    """Within one file the last row of an external id wins; earlier ones become errors."""
    winner: dict[str, int] = {}
    for record, venue in kept:
        winner[venue.external_id] = record.line
    venues: list[VenueInput] = []
    errors: list[RowError] = []
    for record, venue in kept:
        won = winner[venue.external_id]
        if record.line == won:
            venues.append(venue)
        else:
            reason = f"duplicate external id {venue.external_id!r} (line {won} wins)"
            errors.append(RowError(record.line, reason, record.raw))
    return venues, errors


# --------------------------------------------------------------------------- helpers


def _header_columns(header: str | Sequence[str]) -> list[str]:
    if isinstance(header, str):
        header = next(csv.reader(io.StringIO(header.lstrip("\ufeff"))), [])
    return [column.strip().lstrip("\ufeff").lower() for column in header]


def _check_columns(columns: list[str], fmt: ImportFormat) -> None:
    required = (
        [c for c in OPEN_PUBS_COLUMNS if c not in ("easting", "northing")]
        if fmt == "open_pubs"
        else list(CSV_REQUIRED_COLUMNS)
    )
    missing = [c for c in required if c not in columns]
    if missing:
        raise ImportFormatError(f"{fmt} header lacks column(s) {', '.join(missing)}")
    if fmt == "csv" and ("lat" in columns) != ("lng" in columns):
        raise ImportFormatError("csv header must have both lat and lng, or neither")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ImportFormatError(f"header repeats column(s) {', '.join(repeated)}")


def _clean(value: str) -> str:
    """Collapse whitespace runs; the lines of a multi-line field become comma-separated parts."""
    parts = (" ".join(part.split()).rstrip(",").rstrip() for part in value.splitlines())
    return ", ".join(part for part in parts if part)


def _normalise_key(text: str) -> str:
    return " ".join(text.casefold().split())
