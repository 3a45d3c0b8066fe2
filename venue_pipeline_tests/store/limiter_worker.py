"""A child process for the shared-limiter tests (test_limiter.py), run as a script.

It calls one provider (Geoapify's search) through the real call path (providers/http.py, providers/limits.py) with
the database's ledger (store/calls.py), against a fake server inside this process. Every request the fake server
answers is appended, with its send time, to --answered (one O_APPEND write per line, so a SIGKILL keeps every line
written). At the end it prints one JSON line: calls answered, QuotaExhausted refusals, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import replace

import httpx

from venue_pipeline.core.errors import QuotaExhausted
from venue_pipeline.providers.geoapify import GeoapifyClient
from venue_pipeline.providers.registry import default_settings
from venue_pipeline.store.calls import DbCallLedger

OK = json.dumps({"type": "FeatureCollection", "features": []}).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--quota", type=int, default=None)
    ap.add_argument("--start", type=float, default=None, help="epoch seconds: no call before this; without it, "
                    "print 'ready' once connected and read the start time from stdin")
    ap.add_argument("--seconds", type=float, default=None, help="stop starting calls this long after --start")
    ap.add_argument("--calls", type=int, default=None, help="at most this many calls in all")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--server-delay", type=float, default=0.0, help="seconds the fake server takes per answer")
    ap.add_argument("--answered", required=True)
    ap.add_argument("--run-id", default=None)
    args = ap.parse_args()

    fd = os.open(args.answered, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sent: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        at = time.time()
        sent.append(at)
        if args.server_delay:
            await asyncio.sleep(args.server_delay)
        os.write(fd, f"{at:.6f}\n".encode())  # answered: written before the client sees the answer
        return httpx.Response(200, content=OK, headers={"content-type": "application/json"})

    async def run() -> dict[str, int]:
        ledger = DbCallLedger(args.db, run_id=args.run_id)
        settings = replace(
            default_settings("geoapify", api_key="test-key-123456"),
            rate_per_second=args.rate,
            daily_quota=args.quota,
            options={"retry_backoff_s": "0"},
        )
        counts = {"answered": 0, "deferred": 0, "errors": 0}
        remaining = [args.calls if args.calls is not None else 10**9]
        ledger.calls_today("geoapify")  # connected before the start
        start = args.start
        if start is None:
            print("ready", flush=True)
            start = float(await asyncio.to_thread(sys.stdin.readline))
        deadline = start + args.seconds if args.seconds is not None else float("inf")
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = GeoapifyClient(settings, http, ledger)
            assert client.limiter.shared, "the database ledger must give the shared limiter"
            await asyncio.sleep(max(0.0, start - time.time()))

            async def worker() -> None:
                while time.time() < deadline and remaining[0] > 0:
                    remaining[0] -= 1
                    try:
                        await client.search("The Crown", 51.5, -0.1)
                        counts["answered"] += 1
                    except QuotaExhausted:
                        counts["deferred"] += 1
                    except Exception:  # noqa: BLE001 - counted; the test says what it expects
                        counts["errors"] += 1

            await asyncio.gather(*(worker() for _ in range(args.workers)))
        return counts

    counts = asyncio.run(run())
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
