"""store/schema.py: the status columns hold every named state, and an image row starts pending."""

from __future__ import annotations

from venue_pipeline.core.statuses import IdStatus, ImageStatus
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ProviderIdRow, UploadAttemptRow, VenueImageRow
from venue_pipeline.store.venues import list_venues, upsert_venues
from venue_pipeline_tests.store.factories import NOW, venue_input


def test_every_state_fits_its_column() -> None:
    assert max(len(s) for s in ImageStatus) <= VenueImageRow.__table__.c.status.type.length
    assert max(len(s) for s in IdStatus) <= ProviderIdRow.__table__.c.status.type.length
    assert max(len(s) for s in (ImageStatus.UPLOADED, ImageStatus.FAILED)) <= UploadAttemptRow.__table__.c.outcome.type.length


def test_an_image_row_starts_pending(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("1")])
        row = VenueImageRow(venue_id=list_venues(s)[0].id, provider="here", photo_key="p", reference="r",
                            discovered_at=NOW, updated_at=NOW)
        s.add(row)
        s.flush()
        assert row.status == ImageStatus.PENDING
    with session_scope(any_db_url) as s:
        assert s.get(VenueImageRow, row.id).status == "pending"
