"""Shipped demo data: a cut of the UK Open Pubs file (Open Government Licence v3.0)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
DEMO_VENUES_CSV = DATA_DIR / "demo_venues.csv"
"""Open Pubs format; parse with ``parse_venues(DEMO_VENUES_CSV, "open_pubs")``."""
DEMO_AUTHORITIES: tuple[str, ...] = ("Exeter", "Norwich", "Nottingham")
"""The local authorities (cities) the demo file holds, every pub of each."""
