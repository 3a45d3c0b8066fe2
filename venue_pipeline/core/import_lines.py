"""Physical lines of a venue file, read in linear time and bounded memory, split into CSV records.

Only regular files are read (a directory, /dev/zero or a FIFO is refused before it is opened).
Lines are read with a byte cap: a longer line is skipped to its end in capped chunks (linear time,
never held whole) and becomes one bad row. Bytes are decoded per physical line so an invalid UTF-8
line is reported and skipped; records are split by the csv module (quoted multi-line fields work)
while every record keeps the physical line numbers it came from (header = line 1). A record broken
by an unbalanced quote is reported and its following lines are parsed again, so a stray quote costs
one row, not the rest of the file. The csv module's field size limit (128 KiB by default) stays in
force: a larger quoted field is a malformed row.
"""

from __future__ import annotations

import csv
import os
import stat
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, BinaryIO

MAX_LINE_BYTES = 64 * 1024
"""A physical line longer than this (the header included) is not read: a bad row, or a refused file."""
MAX_RECORD_LINES = 20
"""A quoted field spanning more lines than this is taken for an unbalanced quote."""
MAX_RAW_CHARS = 500
"""Error rows keep this much of the raw text: enough to find it, not a copy of the file."""

_BOM = b"\xef\xbb\xbf"


class ImportFormatError(ValueError):
    """The file as a whole cannot be read (not a regular file, no header, unknown format, missing columns,
    a header too wide): it is refused before anything is written."""


def open_regular_file(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading; anything else is refused before it is opened
    (opening a FIFO would block, /dev/zero never ends, a directory cannot be read)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ImportFormatError(f"cannot read the file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImportFormatError(f"not a regular file ({_kind(info.st_mode)}): only regular files are imported")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise ImportFormatError(f"cannot read the file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced between stat and open
        fh.close()
        raise ImportFormatError("not a regular file: only regular files are imported")
    return fh


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def capped_lines(fh: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[tuple[bytes, int]]:
    """(line, full length in bytes) of every physical line; a line over `limit` bytes comes back cut to
    `limit` bytes with its full length, the rest read in `limit`-sized chunks and dropped."""
    while True:
        line = fh.readline(limit)
        if not line:
            return
        if len(line) < limit or line.endswith(b"\n"):
            yield line, len(line)
            continue
        total = len(line)
        while True:
            more = fh.readline(limit)
            if not more:
                break
            total += len(more)
            if more.endswith(b"\n"):
                break
        yield line, total


def file_byte_lines(fh: IO[bytes] | IO[str], limit: int = MAX_LINE_BYTES) -> Iterator[tuple[bytes, int]]:
    """capped_lines for binary files (preferred) and text files (already decoded by the caller)."""
    if isinstance(fh.read(0), bytes):
        yield from capped_lines(fh, limit)  # type: ignore[arg-type]
        return
    for chunk in fh:
        data = chunk.encode("utf-8", errors="surrogateescape")  # type: ignore[union-attr]
        yield (data[:limit], len(data))


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    text: str
    bad_byte: int | None  # offset in the line of the first invalid UTF-8 byte
    length: int  # bytes in the file (more than the text holds when the line was too long)

    @property
    def too_long(self) -> bool:
        return self.length > MAX_LINE_BYTES


class _LineTooLong(Exception):
    """Raised from inside the csv reader's line source: a line over MAX_LINE_BYTES is never parsed."""


class _RecordTooLong(Exception):
    """Raised from inside the csv reader's line source to stop a runaway quoted field."""


class _LineSource:
    """Feeds decoded physical lines to csv.reader and remembers which lines each record used."""

    def __init__(self, byte_lines: Iterable[tuple[bytes, int]]) -> None:
        self._byte_lines = iter(byte_lines)
        self._pushback: deque[Line] = deque()
        self._count = 0
        self.taken: list[Line] = []

    def __iter__(self) -> _LineSource:
        return self

    def __next__(self) -> str:
        if self._pushback:
            line = self._pushback.popleft()
        else:
            raw, length = next(self._byte_lines)  # StopIteration ends the csv reader
            self._count += 1
            if self._count == 1 and raw.startswith(_BOM):
                raw, length = raw[len(_BOM) :], length - len(_BOM)
            line = _decode(raw, self._count, length)
        self.taken.append(line)
        if line.too_long:
            raise _LineTooLong
        if len(self.taken) > MAX_RECORD_LINES:
            raise _RecordTooLong
        return line.text

    def push_back(self, lines: Sequence[Line]) -> None:
        """Make these lines the next ones read, to parse them again."""
        self._pushback.extendleft(reversed(lines))


def _decode(raw: bytes, number: int, length: int) -> Line:
    if length > MAX_LINE_BYTES:
        return Line(number, raw[:MAX_RAW_CHARS].decode("utf-8", errors="replace"), None, length)
    try:
        return Line(number, raw.decode("utf-8"), None, length)
    except UnicodeDecodeError as exc:
        # Replacement keeps the record structure (invalid bytes are never quotes, commas or
        # newlines) so the record can be found and skipped as a whole.
        return Line(number, raw.decode("utf-8", errors="replace"), exc.start, length)


@dataclass(frozen=True, slots=True)
class Record:
    lines: list[Line]
    fields: list[str] | None
    broken: str | None = None  # why the record structure is broken (fields is None then)

    @property
    def line(self) -> int:
        return self.lines[0].number

    @property
    def raw(self) -> str:
        text = "".join(line.text[: MAX_RAW_CHARS + 1] for line in self.lines[:3]).rstrip("\r\n")
        return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "…"

    @property
    def span(self) -> str:
        return f"lines {self.lines[0].number}-{self.lines[-1].number}"


def records(byte_lines: Iterable[tuple[bytes, int]]) -> Iterator[Record]:
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
            except (csv.Error, _RecordTooLong, _LineTooLong) as exc:
                lines = list(source.taken)
                if isinstance(exc, _LineTooLong):
                    long = lines[-1]
                    reason = f"line too long: {long.length} bytes, at most {MAX_LINE_BYTES}"
                    if len(lines) > 1:
                        reason = f"quoted field runs into line {long.number}, which is too long"
                elif isinstance(exc, _RecordTooLong):
                    reason = f"unbalanced quote: a quoted field runs past {MAX_RECORD_LINES} lines"
                else:
                    reason = f"malformed CSV: {exc}"
                yield Record(lines, None, reason)
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
                yield Record(lines, None, reason)
                source.push_back(lines[1:])
                break
            yield Record(lines, fields)
