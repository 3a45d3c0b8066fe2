"""The pipelined flow's upload stage in a process of its own, so its Python work (HTTP, image checks, outcome
rows) does not share one interpreter lock with the ID and discovery stages: on a busy machine that lock, not the
providers, set the pace (issue 14; docs/architecture.md, "The city flow").

The flow's thread for the stage starts `python -m venue_pipeline.pipeline.upload_worker` and talks to it over its
standard streams, in pickles: the job first, then each (venue id, provider) part discovery hands over, then None
(no more parts). The worker runs `run_uploads` as the thread would and answers with one pickle on its standard
output: ("ok", summary) or ("error", exception). If its input ends without the None, the flow's process died
(killed, say), and the worker ends at once, as it would have as a thread of that process: the run's leases and
the next run's reconciliation (issue 12) deal with what it left, exactly as after any kill."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from venue_pipeline.pipeline.common import progress_log
from venue_pipeline.pipeline.handoff import Handoff
from venue_pipeline.pipeline.uploads import UploadSummary, run_uploads
from venue_pipeline.services import Settings
from venue_pipeline.store.db import in_memory

WORKER_MODES = ("auto", "thread", "process")
ORPHANED_EXIT = 75  # the worker's exit status when the flow's process vanished before saying "no more parts"
_STOP_WAIT_S = 30.0


@dataclass(frozen=True)
class UploadJob:
    """What the worker needs to run the stage: the settings (keys included: they travel over the private pipe,
    never on a command line or in the environment of anything else), the city and the stage's options."""

    settings: Settings
    city: str
    run_id: str | None
    now: datetime | None
    options: Mapping[str, Any]


def uses_process(settings: Settings, mode: str) -> bool:
    """Whether the uploads run in a worker process: `process`, `thread`, or `auto` (a process when the providers
    are reached over the network, live or a sandbox server; a thread with the in-process sandbox, a world that
    lives in this process and that a second process would only copy)."""
    if mode not in WORKER_MODES:
        raise ValueError(f"upload_worker must be one of {', '.join(WORKER_MODES)}, not {mode!r}")
    shared_db = not in_memory(settings.db_url)
    if mode == "process" and not shared_db:
        raise ValueError("upload_worker=process needs a database file or server: an in-memory SQLite database "
                         "is private to one process")
    if mode == "auto":
        return shared_db and (settings.provider_mode == "live" or bool(settings.sandbox_url))
    return mode == "process"


def run_uploads_in_worker(
    settings: Settings,
    city: str,
    *,
    venues_from: Handoff,
    run_id: str | None = None,
    now: datetime | None = None,
    **options: Any,
) -> UploadSummary:
    """`run_uploads` with `venues_from`, run by a worker process: the parts are passed on as they come; the
    summary (its duration counted from here, the flow's start) or the worker's error comes back."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "venue_pipeline.pipeline.upload_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        close_fds=True,
        env=_worker_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        _send_all(proc.stdin, UploadJob(settings, city, run_id, now, dict(options)), venues_from)
        try:
            kind, value = pickle.load(proc.stdout)
        except EOFError:
            raise RuntimeError(f"the upload worker ended (exit status {proc.wait()}) without a result; its "
                               "error, if any, is in the output above") from None
        proc.wait(timeout=_STOP_WAIT_S)
    except BaseException:
        _stop(proc)
        raise
    if kind != "ok":
        raise value
    summary: UploadSummary = value
    summary.duration_s = round(time.monotonic() - t0, 2)
    progress_log.info("%s (%.1fs)", summary.progress(), summary.duration_s)
    return summary


def _worker_env() -> dict[str, str]:
    """This environment, with the folder this package was imported from first on the path: a code location loaded
    from its working directory (workspace.yaml) need not be installed for its worker to import it."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    return env


def _send_all(pipe: IO[bytes], job: UploadJob, parts: Handoff) -> None:
    """The job, every part as it comes, then None; a worker that died early stops the sending (its answer, or
    its missing answer, tells what happened)."""
    try:
        for item in _items(job, parts):
            pickle.dump(item, pipe)
            pipe.flush()
        pipe.close()
    except (BrokenPipeError, ConnectionResetError):
        for _ in parts.drain():  # let the producer's puts go nowhere rather than pile up
            pass


def _items(job: UploadJob, parts: Handoff) -> Any:
    yield job
    yield from parts.drain()
    yield None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


# -- the worker process -----------------------------------------------------------------------------------------


def main() -> int:
    """The worker: reads the job and the parts from standard input, answers on standard output."""
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to standard error, never into the answer
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s upload worker: %(message)s")
    source = sys.stdin.buffer
    job: UploadJob = pickle.load(source)
    parts = Handoff()
    threading.Thread(target=_receive, args=(source, parts), name="upload-worker-parts", daemon=True).start()
    try:
        result: tuple[str, Any] = ("ok", run_uploads(
            job.settings, job.city, run_id=job.run_id, now=job.now, venues_from=parts, **job.options
        ))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the flow, which raises it
        result = ("error", _portable(exc))
    pickle.dump(result, answer)
    answer.flush()
    return 0


def _receive(source: IO[bytes], parts: Handoff) -> None:
    """Puts each part the flow sends; None closes the hand-over; an input that ends without it means the flow's
    process is gone, and the worker goes with it (os._exit: no cleanup that a killed thread would not have had)."""
    try:
        while (part := pickle.load(source)) is not None:
            parts.put(*part)
    except (EOFError, OSError, pickle.UnpicklingError):
        os._exit(ORPHANED_EXIT)
    parts.close()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives a pickle round trip, else a RuntimeError with its text and trace."""
    try:
        back = pickle.loads(pickle.dumps(exc))
        if isinstance(back, BaseException):
            return back
    except Exception:  # noqa: BLE001 - any pickling failure means: send the text instead
        pass
    text = "".join(traceback.format_exception(exc))
    return RuntimeError(f"upload worker: {type(exc).__name__}: {exc}\n{text}")


if __name__ == "__main__":
    sys.exit(main())
