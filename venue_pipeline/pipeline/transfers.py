"""What the upload and retry stages share: each outcome recorded the moment it completes, and the images
counted by where they ended."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from venue_pipeline.core.gallery import UploadOutcome
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.pipeline.common import record_outcome
from venue_pipeline.pipeline.stage import StageSummary


@dataclass
class TransferSummary(StageSummary):
    """What an upload or a retry run did to images: attempts, and images per provider by where they ended
    (the failed ones that will be retried are each stage's own field)."""

    attempted: int = 0
    uploaded: dict[str, int] = field(default_factory=dict)
    retired: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def count(self, tally: Tally) -> None:
        """Takes the uploaded, retired and failure counts of the tally."""
        self.uploaded, self.retired, self.failures = tally.uploaded, tally.retired, tally.failures


@dataclass
class OutcomeLog:
    """The `on_outcome` callback of an upload: records each outcome in its own short transaction the moment it
    completes (a crash loses at most the transfers in flight), and keeps where each image ended.

    `tried_before` holds the images attempted in an earlier run; an attempt on one of them, or a second attempt
    in this run, is recorded as a retry (`all_retries`: every attempt is)."""

    db_url: str
    run_id: str | None
    tried_before: set[int] = field(default_factory=set)
    all_retries: bool = False
    final: dict[int, tuple[UploadOutcome, str]] = field(default_factory=dict)

    def __call__(self, outcome: UploadOutcome) -> None:
        is_retry = self.all_retries or outcome.image_id in self.tried_before
        self.tried_before.add(outcome.image_id)
        status = record_outcome(self.db_url, outcome, run_id=self.run_id, is_retry=is_retry)
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
