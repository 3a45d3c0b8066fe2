"""The resilience suite: enrichment runs killed with SIGKILL at chosen moments, then run again."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.slow

if not (os.environ.get("CI") or os.environ.get("VENUE_RESILIENCE_TESTS") == "1" or os.environ.get("VENUE_E2E_TESTS") == "1"):
    collect_ignore_glob = ["test_*.py"]
