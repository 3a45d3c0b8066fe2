#!/usr/bin/env python3
"""Screenshots of the Dagster UI in headless Debian Chromium, failing on page errors or missing text.

Usage: python scripts/ui_screenshot.py BASE_URL OUT_DIR [--asset-page provider_ids ...] [--expect PATH=TEXT ...]
Writes OUT_DIR/asset_graph.png (/asset-groups, the global lineage), OUT_DIR/asset_<name>.png per
--asset-page (default: uploaded_images) and OUT_DIR/runs.png. Exit 1 on a failed check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Flags verified with Debian's chromium as root in a container (see environment.md §5).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ASSET_KEYS = ("provider_ids", "discovered_photos", "uploaded_images", "image_failure_report")
LOAD_TIMEOUT_S = 60.0


class UiCheckError(AssertionError):
    """A page failed to render what we expect (missing text or a JavaScript error)."""


@dataclass(frozen=True)
class PageCheck:
    """One page to open: its route, texts that must become visible, texts that must not be there, the screenshot file name."""

    path: str
    texts: Sequence[str] = field(default_factory=tuple)
    file_name: str = ""
    absent: Sequence[str] = field(default_factory=tuple)
    # Lineage graph nodes (SVG foreignObjects) that must render; names in the sidebar alone do not prove the graph drew.
    min_graph_nodes: int = 0

    def out_name(self) -> str:
        if self.file_name:
            return self.file_name
        slug = re.sub(r"[^A-Za-z0-9]+", "_", self.path.strip("/")) or "root"
        return f"{slug}.png"


def default_expectations(asset_pages: Iterable[str] = ("uploaded_images",)) -> list[PageCheck]:
    """Global lineage with all four assets, one page per asset, and the runs list."""
    checks = [PageCheck("/asset-groups", ASSET_KEYS, "asset_graph.png", min_graph_nodes=len(ASSET_KEYS))]
    checks += [PageCheck(f"/assets/{name}", (name,), f"asset_{name}.png") for name in asset_pages]
    checks.append(PageCheck("/runs", (), "runs.png"))
    return checks


def _as_checks(expectations: Sequence[PageCheck] | Mapping[str, Sequence[str]]) -> list[PageCheck]:
    if isinstance(expectations, Mapping):
        return [PageCheck(path, tuple(texts)) for path, texts in expectations.items()]
    return list(expectations)


def take_screenshots(
    base_url: str,
    out_dir: Path | str,
    expectations: Sequence[PageCheck] | Mapping[str, Sequence[str]] | None = None,
    *,
    chromium: str = CHROMIUM,
    timeout_s: float = LOAD_TIMEOUT_S,
) -> list[Path]:
    """Open each page, wait for its texts and for "Loading..." to go, screenshot it; raise UiCheckError on any failure."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    checks = _as_checks(expectations if expectations is not None else default_expectations())
    timeout_ms = timeout_s * 1000
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = base_url.rstrip("/")
    shots: list[Path] = []
    failures: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            # The UI shows a "Join the Dagster community" modal on loopback origins; mark it as seen.
            context.add_init_script("localStorage.setItem('communityNux', '1')")
            for check in checks:
                page = context.new_page()
                page_errors: list[str] = []
                page.on("pageerror", lambda exc, errs=page_errors: errs.append(str(exc)))
                target = out / check.out_name()
                loaded = False
                try:
                    page.goto(f"{base}{check.path}", wait_until="networkidle", timeout=timeout_ms)
                    loaded = True
                    for text in check.texts:
                        page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=timeout_ms)
                    page.wait_for_function(
                        "() => !document.body.innerText.includes('Loading...')", timeout=timeout_ms
                    )
                    if check.min_graph_nodes:
                        page.wait_for_function(
                            "n => document.querySelectorAll('svg foreignObject').length >= n",
                            arg=check.min_graph_nodes, timeout=timeout_ms,
                        )
                    page.wait_for_timeout(500)  # let the graph layout settle before the picture
                    body = page.inner_text("body")
                    failures += [f"{check.path}: unexpected text {text!r}" for text in check.absent if text in body]
                except PlaywrightError as exc:
                    failures.append(f"{check.path}: {str(exc).splitlines()[0]}")
                finally:
                    try:
                        page.screenshot(path=str(target), full_page=False)
                        shots.append(target)
                    except PlaywrightError as exc:
                        failures.append(f"{check.path}: screenshot failed: {exc}")
                    page.close()
                if loaded:  # an unreachable server yields Chromium's error page, whose script errors are noise
                    failures += [f"{check.path}: page error: {err}" for err in page_errors]
        finally:
            browser.close()
    if failures:
        raise UiCheckError("UI check failed:\n  " + "\n  ".join(failures) + f"\nscreenshots in {out}")
    return shots


def _parse_expect(values: Sequence[str]) -> dict[str, list[str]]:
    extra: dict[str, list[str]] = {}
    for value in values:
        path, sep, text = value.partition("=")
        if not sep or not path.startswith("/") or not text:
            raise SystemExit(f"--expect wants PATH=TEXT with PATH starting with '/', got {value!r}")
        extra.setdefault(path, []).append(text)
    return extra


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:3000")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--asset-page", action="append", dest="asset_pages", metavar="ASSET",
                        help="asset page to capture (repeatable; default: uploaded_images)")
    parser.add_argument("--expect", action="append", default=[], metavar="PATH=TEXT",
                        help="extra text that must appear on PATH (repeatable; adds PATH if new)")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"browser executable (default {CHROMIUM})")
    parser.add_argument("--timeout", type=float, default=LOAD_TIMEOUT_S, help="seconds to wait per page and text")
    args = parser.parse_args(argv)

    if not Path(args.chromium).exists():
        print(f"ui_screenshot: {args.chromium} not found (apt-get install chromium)", file=sys.stderr)
        return 1
    checks = default_expectations(args.asset_pages or ("uploaded_images",))
    for path, texts in _parse_expect(args.expect).items():
        for i, check in enumerate(checks):
            if check.path == path:
                checks[i] = PageCheck(
                    check.path, (*check.texts, *texts), check.file_name, check.absent, check.min_graph_nodes
                )
                break
        else:
            checks.append(PageCheck(path, tuple(texts)))
    try:
        shots = take_screenshots(args.base_url, args.out_dir, checks, chromium=args.chromium, timeout_s=args.timeout)
    except UiCheckError as exc:
        print(exc, file=sys.stderr)
        return 1
    for shot in shots:
        print(shot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
