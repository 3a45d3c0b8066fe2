"""Regenerate demo_venues.csv: every Open Pubs row of a few local authorities, bytes unchanged.

Usage (from the project root):
    python venue_pipeline/sandbox/data/scripts/make_demo_venues.py [--source PATH] [--out PATH] [--check]

The cut is deterministic: the header plus, in source order, each line whose local_authority is
one of DEMO_AUTHORITIES, copied byte for byte. --check compares instead of writing.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1]
PROJECT_ROOT = DATA_DIR.parents[2]
DEFAULT_SOURCE = PROJECT_ROOT.parent / "shared" / "data" / "open_pubs" / "open_pubs.csv"
DEFAULT_OUT = DATA_DIR / "demo_venues.csv"
# Three recognisable cities whose sizes add up to 528 pubs; each has one row with \N coordinates.
DEMO_AUTHORITIES = ("Exeter", "Norwich", "Nottingham")
EXPECTED_HEADER = b"fas_id,name,address,postcode,easting,northing,latitude,longitude,local_authority\n"


def cut(source: bytes, authorities: tuple[str, ...] = DEMO_AUTHORITIES) -> bytes:
    """The header and every line of the chosen authorities, in source order, bytes unchanged."""
    lines = source.splitlines(keepends=True)
    if not lines or lines[0] != EXPECTED_HEADER:
        raise SystemExit(f"unexpected header in source: {lines[0][:120]!r}")
    wanted = set(authorities)
    out = [lines[0]]
    for number, line in enumerate(lines[1:], start=2):
        rows = list(csv.reader([line.decode("utf-8")]))
        if len(rows) != 1 or len(rows[0]) != 9:
            raise SystemExit(f"line {number} is not one 9-column record; cannot cut by line")
        if rows[0][8] in wanted:
            out.append(line)
    return b"".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="fail if --out differs from a fresh cut")
    args = parser.parse_args(argv)
    if not args.source.exists():
        print(f"source not found: {args.source}", file=sys.stderr)
        return 2
    data = cut(args.source.read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    rows = data.count(b"\n") - 1
    no_coords = data.count(b",\\N,\\N,")
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == data
        print(f"{'up to date' if same else 'DIFFERS'}: {args.out} ({rows} rows, sha256 {digest})")
        return 0 if same else 1
    args.out.write_bytes(data)
    print(f"wrote {args.out}: {rows} rows, {no_coords} without coordinates, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
