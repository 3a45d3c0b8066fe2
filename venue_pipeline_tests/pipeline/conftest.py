"""The pipeline tests' shared fixture: a venue database holding eight demo venues of each demo city."""

from __future__ import annotations

import pytest

from venue_pipeline.cli import import_file
from venue_pipeline.demo import limited_demo_csv


@pytest.fixture
def city_db(db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(8, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    return db_url
