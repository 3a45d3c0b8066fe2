"""Per city: venues, a provider's IDs and photo listings done, and the provider's calls today (issue 17's measure of
how fairly a daily quota was shared). Usage: .venv/bin/python scripts/quota_shares.py [DB_URL] [--provider P]"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone

from sqlalchemy import and_, func, select

from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.limiter import utc_day
from venue_pipeline.store.schema import ApiCallRow, ProviderIdRow, VenueRow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    home = os.environ.get("VENUE_PIPELINE_HOME", ".venue_pipeline")
    parser.add_argument("db_url", nargs="?", default=os.environ.get("VENUE_DB_URL", f"sqlite:///{home}/venues.db"))
    parser.add_argument("--provider", default="foursquare")
    args = parser.parse_args()
    p = args.provider
    row = and_(ProviderIdRow.venue_id == VenueRow.id, ProviderIdRow.provider == p)
    matched = ProviderIdRow.status == IdStatus.MATCHED
    listed = matched & (VenueRow.images_checked_at >= ProviderIdRow.matched_at)
    stmt = (
        select(
            VenueRow.city_slug,
            func.count(VenueRow.id),
            func.count(ProviderIdRow.id).filter(ProviderIdRow.status != IdStatus.DEFERRED),
            func.count().filter(matched),
            func.count().filter(ProviderIdRow.status == IdStatus.DEFERRED),
            func.count().filter(listed),
            func.count().filter(matched & ~listed),
        )
        .select_from(VenueRow)
        .outerjoin(ProviderIdRow, row)
        .group_by(VenueRow.city_slug)
        .order_by(VenueRow.city_slug)
    )
    with session_scope(args.db_url) as session:
        rows = session.execute(stmt).all()
        calls = session.scalar(
            select(func.count(ApiCallRow.id)).where(ApiCallRow.provider == p, ApiCallRow.day == utc_day())
        )
    total = sum(r[1] for r in rows) or 1
    all_listed = sum(r[5] for r in rows) or 1
    print(f"{p}, {datetime.now(timezone.utc):%Y-%m-%d}: {calls} calls today")
    print("city        venues  share  looked_up  matched  id_deferred  listed  listed_share  listing_owed")
    for city, venues, looked, found, deferred, done, owed in rows:
        print(
            f"{city:<11} {venues:>6}  {venues / total:>5.1%}  {looked:>9}  {found:>7}  {deferred:>11}  {done:>6}"
            f"  {done / all_listed:>12.1%}  {owed:>12}"
        )


if __name__ == "__main__":
    main()
