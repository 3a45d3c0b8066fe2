"""When to ask a provider again: photo listings and rejected searches back off when they bring nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# A listing that brought no new photo doubles the wait for the next listing of that provider for that venue.
LISTING_INTERVALS = tuple(timedelta(days=d) for d in (30, 60, 120, 240))
# A thin gallery (fewer than THIN_GALLERY uploaded images) backs off from the 7-day 'without images' rule
# (core/staleness.py) and never waits past 56 days: that is where a new photo is worth most.
THIN_GALLERY = 3
THIN_LISTING_INTERVALS = tuple(timedelta(days=d) for d in (7, 14, 28, 56))
# A no-match or ambiguous search doubles the wait for the next search of that provider for that venue.
SEARCH_COOLDOWNS = tuple(timedelta(days=d) for d in (30, 60, 120, 240))


@dataclass(frozen=True)
class ListingState:
    """One (venue, provider)'s listing history and the venue's gallery, as the rule needs them."""

    listed_at: datetime | None = None  # the last listing that came back (None: never listed)
    streak: int = 0  # consecutive listings that brought no new photo
    matched_at: datetime | None = None  # when the provider's ID was decided
    uploaded: int = 0  # the venue's uploaded images
    full: bool = False  # the venue's gallery, or this provider's share of it, is at its cap


def _step(intervals: tuple[timedelta, ...], streak: int) -> timedelta:
    return intervals[min(max(streak, 0), len(intervals) - 1)]


def listing_interval(state: ListingState) -> timedelta:
    """The wait after the last listing: the longest for a full gallery, the thin steps below THIN_GALLERY."""
    if state.full:
        return LISTING_INTERVALS[-1]
    if state.uploaded < THIN_GALLERY:
        return _step(THIN_LISTING_INTERVALS, state.streak)
    return _step(LISTING_INTERVALS, state.streak)


def next_listing_at(state: ListingState) -> datetime | None:
    """When the provider's photos may be listed again (None: now, it was never listed)."""
    if state.listed_at is None:
        return None
    return state.listed_at + listing_interval(state)


def listing_due(state: ListingState, now: datetime) -> bool:
    """Never listed, an ID decided after the last listing, or the back-off interval over."""
    if state.listed_at is None:
        return True
    if state.matched_at is not None and state.matched_at > state.listed_at:
        return True
    due_at = next_listing_at(state)
    return due_at is None or due_at <= now


def streak_after(streak: int, new_photos: int) -> int:
    """A listing with a new photo resets the streak; an empty one lengthens it (capped at the last step)."""
    return 0 if new_photos > 0 else min(streak + 1, len(LISTING_INTERVALS) - 1)


def search_cooldown(searches: int) -> timedelta:
    """The wait after the n-th consecutive unsuccessful search (n >= 1): 30, 60, 120, then 240 days."""
    return _step(SEARCH_COOLDOWNS, searches - 1)


def search_due(
    next_search_at: datetime | None,
    searched_at: datetime | None,
    venue_changed_at: datetime | None,
    now: datetime,
) -> bool:
    """A rejected search is asked again when its cooldown is over, or at once when the venue changed after it."""
    if next_search_at is None or next_search_at <= now:
        return True
    return venue_changed_at is not None and searched_at is not None and venue_changed_at > searched_at
