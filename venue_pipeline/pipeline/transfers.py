"""What the upload and retry stages share: files a crashed run stored adopted and orphans removed before any
transfer (core/reconcile.py), each outcome recorded the moment it completes, and the images counted by where
they ended."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from venue_pipeline.core.gallery import ImageTask, UploadOutcome
from venue_pipeline.core.reconcile import Reconciled, reconcile
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.pipeline.common import record_outcome, with_retry
from venue_pipeline.pipeline.stage import StageSummary
from venue_pipeline.services import Services
from venue_pipeline.store import images as images_db


@dataclass
class TransferSummary(StageSummary):
    """What an upload or a retry run did to images: attempts, and images per provider by where they ended
    (the failed ones that will be retried are each stage's own field)."""

    attempted: int = 0
    uploaded: dict[str, int] = field(default_factory=dict)
    retired: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    adopted: dict[str, int] = field(default_factory=dict)
    orphans_removed: int = 0
    folders_listed: int = 0
    store_notes: list[str] = field(default_factory=list)

    def count(self, tally: Tally) -> None:
        """Takes the uploaded, retired and failure counts of the tally."""
        self.uploaded, self.retired, self.failures = tally.uploaded, tally.retired, tally.failures

    def take(self, reconciled: Reconciled) -> None:
        """Takes what reconciling the run's folders did (adopted images are also counted as uploaded)."""
        self.adopted = dict(sorted(Counter(o.provider for o in reconciled.adopted).items()))
        self.orphans_removed = len(reconciled.removed)
        self.folders_listed = reconciled.folders
        self.store_notes = reconciled.notes[:20]

    def store_progress(self) -> str:
        """The reconcile part of the progress line, empty when it changed nothing."""
        adopted = sum(self.adopted.values())
        if not adopted and not self.orphans_removed:
            return ""
        return f", {adopted} adopted from files already stored, {self.orphans_removed} orphan files removed"


async def adopt_stored(
    services: Services, db_url: str, tasks: Sequence[ImageTask], log: OutcomeLog, providers: Collection[str]
) -> Reconciled:
    """Before any transfer: one listing per venue folder of the tasks; a file already stored for a waiting image
    of the run's providers is recorded (through `log`) as its upload, with no download and no put; files no
    image row accounts for are deleted. Returns the tasks still to transfer."""

    def read_rows(venue_ids: Sequence[int], paths: Sequence[str]) -> tuple[list, set[str]]:
        return with_retry(db_url, lambda session: images_db.folder_rows(session, venue_ids, paths))  # type: ignore[no-any-return]

    return await reconcile(
        tasks, services.image_store, read_rows, adoptable=lambda t: t.provider in providers, on_outcome=log
    )


@dataclass
class OutcomeLog:
    """The `on_outcome` callback of an upload: records each outcome in its own short transaction the moment it
    completes (a crash loses at most the transfers in flight), and keeps where each image ended.

    `tried_before` holds the images attempted in an earlier run; an attempt on one of them, or a second attempt
    in this run, is recorded as a retry (`all_retries`: every attempt is). `now` is the stage's injected time
    (None: each outcome's real time), which stamps the image and decides its next retry."""

    db_url: str
    run_id: str | None
    tried_before: set[int] = field(default_factory=set)
    all_retries: bool = False
    now: datetime | None = None
    final: dict[int, tuple[UploadOutcome, str]] = field(default_factory=dict)

    def __call__(self, outcome: UploadOutcome) -> None:
        is_retry = self.all_retries or outcome.image_id in self.tried_before
        self.tried_before.add(outcome.image_id)
        status = record_outcome(self.db_url, outcome, run_id=self.run_id, is_retry=is_retry, now=self.now)
        if status is not None:
            self.final[outcome.image_id] = (outcome, status)

    def ended(self) -> list[tuple[UploadOutcome, str]]:
        """Each image once, in id order, with its last outcome and the status it ended in."""
        return [self.final[image_id] for image_id in sorted(self.final)]

    def tally(self) -> Tally:
        """Each image counted once, by where it ended."""
        return Tally.of(self.ended())


@dataclass
class Tally:
    """Images per provider by where they ended: uploaded, failed (will retry), retired; failures by type."""

    uploaded: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    retired: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, ended: Iterable[tuple[UploadOutcome, str]]) -> Tally:
        uploaded: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        retired: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        for outcome, status in ended:
            if outcome.ok:
                uploaded[outcome.provider] += 1
                continue
            failures[f"{outcome.provider}/{outcome.error_type}"] += 1
            (retired if status == ImageStatus.PERMANENTLY_FAILED else failed)[outcome.provider] += 1
        return cls(dict(uploaded), dict(failed), dict(retired), dict(sorted(failures.items())))
