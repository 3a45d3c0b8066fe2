"""Parse venue CSV files (Open Pubs or a plain CSV) into VenueInputs, one bad row never sinks the file.

Pure parsing, no database. A file is read as a stream (core/import_lines.py: regular files only,
every line capped at MAX_LINE_BYTES, line-numbered CSV records) and each row is checked the same way
for every database before anything is written: required fields, coordinates, lengths within the
schema's columns (FIELD_LIMITS), no control character. `open_venues` yields venues and bad rows in
file order with bounded memory and `venue_batches` groups them for batched upserts (a later row of
an external id wins); `parse_venues` collects a whole (small) file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Literal, Self, cast

from venue_pipeline.core.import_lines import (
    MAX_LINE_BYTES,
    ImportFormatError,
    Record,
    file_byte_lines,
    open_regular_file,
    records,
)
from venue_pipeline.core.slugs import city_slug as make_city_slug
from venue_pipeline.core.slugs import venue_slug

__all__ = ["MAX_LINE_BYTES", "ImportFormatError"]

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

MAX_COLUMNS = 64
"""A header with more columns is refused: no venue format comes near it."""
FIELD_LIMITS: dict[str, int] = {"external_id": 128, "name": 255, "postcode": 32, "city_name": 255, "country": 64}
"""Characters allowed per field: the String(n) sizes of store/schema.py's venues table (a test holds them
equal), checked here so SQLite (which ignores sizes) and PostgreSQL (which refuses the statement) agree.
The address is a Text column: only the line cap bounds it."""

_NULL_COORDINATES = frozenset({"", "\\N"})
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_FIELD_NAMES = {"city_name": "city"}


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
        """The venue's preferred slug (name-city-hash of source and external id; store/venues.py lengthens
        the hash in the rare case another venue holds it)."""
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


@dataclass(slots=True)
class ErrorLog:
    """Bad rows of a streamed import: every one counted, only the first `keep` listed."""

    keep: int = 100
    count: int = 0
    listed: list[RowError] = field(default_factory=list)

    def add(self, error: RowError) -> None:
        self.count += 1
        if len(self.listed) < self.keep:
            self.listed.append(error)

    @property
    def unlisted(self) -> int:
        return self.count - len(self.listed)


# --------------------------------------------------------------------------- public API


def detect_format(header: str | Sequence[str]) -> ImportFormat:
    """Tell Open Pubs from the plain CSV by its header (a header line or a list of column names)."""
    columns = _header_columns(header)
    if set(OPEN_PUBS_COLUMNS) - {"easting", "northing"} <= set(columns):
        return "open_pubs"
    if set(CSV_REQUIRED_COLUMNS) <= set(columns):
        return "csv"
    shown = columns if len(columns) <= 12 else [*columns[:12], f"... {len(columns)} columns"]
    raise ImportFormatError(
        f"unrecognised header {[c[:40] for c in shown]!r}: expected Open Pubs "
        f"({','.join(OPEN_PUBS_COLUMNS)}) or a CSV with {','.join(CSV_REQUIRED_COLUMNS)}"
        f"[,lat,lng,external_id]"
    )


class VenueFile:
    """An open venue file whose header has been checked (ImportFormatError otherwise, before any row is
    read); iterating yields VenueInput and RowError in file order, one record in memory at a time."""

    def __init__(self, source: str | os.PathLike[str] | IO[bytes] | IO[str], fmt: ImportFormat | None) -> None:
        self._owned: IO[bytes] | None = None
        if isinstance(source, (str, os.PathLike)):
            source = self._owned = open_regular_file(source)
        try:
            self._records = records(file_byte_lines(source))
            self.format, self._index, self._width = _read_header(self._records, fmt)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __iter__(self) -> Iterator[tuple[int, VenueInput] | RowError]:
        make = _open_pubs_venue if self.format == "open_pubs" else _csv_venue
        for record in self._records:
            error = _structural_error(record, self._width)
            if error is not None:
                yield error
                continue
            try:
                venue = make(cast(list[str], record.fields), self._index)
                problem = venue_problem(venue)
                if problem is not None:
                    raise _RowRejected(problem)
            except _RowRejected as exc:
                yield RowError(record.line, str(exc), record.raw)
                continue
            yield record.line, venue


def open_venues(
    path_or_file: str | os.PathLike[str] | IO[bytes] | IO[str], fmt: ImportFormat | None = None
) -> VenueFile:
    """Open a venue file for streaming (fmt None detects the format from the header)."""
    return VenueFile(path_or_file, fmt)


def venue_batches(items: VenueFile, errors: ErrorLog, size: int = 1000) -> Iterator[list[tuple[int, VenueInput]]]:
    """(line, venue) batches of up to `size` rows for batched upserts; bad rows go to `errors`. Within the
    file a later row of an external id wins: the earlier row is reported as a duplicate (and, when it is in
    an earlier batch, already written and then updated). Remembers a 64-bit hash per external id."""
    seen: dict[int, int] = {}
    batch: dict[tuple[str, str], tuple[int, VenueInput]] = {}
    for row in items:
        if isinstance(row, RowError):
            errors.add(row)
            continue
        current, item = row
        key = (item.source, item.external_id)
        digest = int.from_bytes(hashlib.blake2b(f"{key[0]}\x1f{key[1]}".encode(), digest_size=8).digest())
        previous = seen.get(digest)
        if previous is not None:
            errors.add(RowError(previous, f"duplicate external id {item.external_id!r} (line {current} wins)", ""))
        seen[digest] = current
        batch.pop(key, None)
        batch[key] = (current, item)
        if len(batch) >= size:
            yield list(batch.values())
            batch = {}
    if batch:
        yield list(batch.values())


def parse_venues(
    path_or_file: str | os.PathLike[str] | IO[bytes] | IO[str],
    fmt: ImportFormat | None = None,
) -> ParseResult:
    """Parse a whole venue file into memory (small files; imports stream with open_venues)."""
    result = ParseResult()
    kept: list[tuple[int, VenueInput]] = []
    with open_venues(path_or_file, fmt) as venues:
        for row in venues:
            if isinstance(row, RowError):
                result.errors.append(row)
            else:
                kept.append(row)
    result.venues, duplicates = _keep_last(kept)
    result.errors.extend(duplicates)
    result.errors.sort(key=lambda e: e.line)
    return result


def derive_external_id(name: str, address: str | None, city: str) -> str:
    """A stable id for a row that has none: the same name, address and city give the same id."""
    key = "\x1f".join(_normalise_key(part or "") for part in (name, address, city))
    return "h-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def venue_problem(venue: VenueInput) -> str | None:
    """Why a venue cannot be stored on every database (too long for its column, a control character), or
    None. The importer rejects such rows; store/venues.py refuses them from any other caller."""
    for attr, limit in FIELD_LIMITS.items():
        value = getattr(venue, attr)
        if value is not None and len(value) > limit:
            return f"{_FIELD_NAMES.get(attr, attr)} is {len(value)} characters long, at most {limit}"
    for attr in ("external_id", "name", "address", "postcode", "city_name", "country"):
        value = getattr(venue, attr)
        match = _CONTROL.search(value) if value else None
        if match:
            return f"control character U+{ord(match.group()):04X} in {_FIELD_NAMES.get(attr, attr)}"
    return None


# --------------------------------------------------------------------------- rows to venues


class _RowRejected(Exception):
    """A row-level problem; the message is the RowError reason."""


def _read_header(rows: Iterator[Record], fmt: ImportFormat | None) -> tuple[ImportFormat, dict[str, int], int]:
    """The format, column index and width of a file, from its first record; ImportFormatError otherwise."""
    header = next(rows, None)
    if header is None:
        raise ImportFormatError("the file is empty: no header line")
    first = header.lines[0]
    if first.too_long:
        raise ImportFormatError(f"header line too long: more than {MAX_LINE_BYTES} bytes")
    if header.fields is None or any(line.bad_byte is not None for line in header.lines):
        raise ImportFormatError(f"unreadable header on line {header.line}: {header.raw!r}")
    if len(header.fields) > MAX_COLUMNS:
        raise ImportFormatError(f"header has {len(header.fields)} columns, at most {MAX_COLUMNS}")
    columns = _header_columns(header.fields)
    if fmt is None:
        fmt = detect_format(columns)
    _check_columns(columns, fmt)
    return fmt, {name: i for i, name in enumerate(columns)}, len(columns)


def _structural_error(record: Record, n_columns: int) -> RowError | None:
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
        raise _RowRejected(f"latitude {lat_text[:40]} out of range [-90, 90]")
    if not -180.0 <= lng <= 180.0:
        raise _RowRejected(f"longitude {lng_text[:40]} out of range [-180, 180]")
    if lat == 0.0 and lng == 0.0:
        raise _RowRejected("coordinates (0, 0) are a placeholder, not a venue's location")
    return lat, lng


def _number(text: str, what: str) -> float:
    shown = text if len(text) <= 40 else text[:40] + "…"
    if not _DECIMAL.match(text):
        raise _RowRejected(f"non-numeric {what} {shown!r}")
    value = float(text)
    if not math.isfinite(value):
        raise _RowRejected(f"non-numeric {what} {shown!r}")
    return value


def _required(value: str, what: str) -> str:
    if not value:
        raise _RowRejected(f"missing {what}")
    return value


def _keep_last(kept: list[tuple[int, VenueInput]]) -> tuple[list[VenueInput], list[RowError]]:
    """Within one file the last row of an external id wins; earlier ones become errors."""
    winner: dict[str, int] = {}
    for line, venue in kept:
        winner[venue.external_id] = line
    venues: list[VenueInput] = []
    errors: list[RowError] = []
    for line, venue in kept:
        won = winner[venue.external_id]
        if line == won:
            venues.append(venue)
        else:
            errors.append(RowError(line, f"duplicate external id {venue.external_id!r} (line {won} wins)", ""))
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
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if repeated:
        raise ImportFormatError(f"header repeats column(s) {', '.join(repeated)}")


def _clean(value: str) -> str:
    """Collapse whitespace runs; the lines of a multi-line field become comma-separated parts."""
    parts = (" ".join(part.split()).rstrip(",").rstrip() for part in value.splitlines())
    return ", ".join(part for part in parts if part)


def _normalise_key(text: str) -> str:
    return " ".join(text.casefold().split())
