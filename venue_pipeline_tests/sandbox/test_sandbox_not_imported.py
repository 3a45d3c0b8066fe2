"""Production wiring does not load the simulator: services and the Dagster definitions import no venue_pipeline.sandbox module."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import venue_pipeline.services
import venue_pipeline.definitions
print(json.dumps(sorted(m for m in sys.modules if m == "venue_pipeline.sandbox" or m.startswith("venue_pipeline.sandbox."))))
"""


def test_importing_services_and_definitions_loads_no_sandbox_module() -> None:
    # a fresh interpreter: this test process has long imported the sandbox through other tests
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], f"imported at module level by production wiring: {loaded}"
