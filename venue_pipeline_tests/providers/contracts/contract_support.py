"""Shared helpers for the provider contract tests: documented fixtures, a capturing transport, shapes.

A fixture is `fixtures/<provider>/<endpoint>.json`:

    {"SOURCE": {"url": ..., "note": ...},          the documentation page and what was taken from it
     "request": {"method", "host", "path", "params" | "body" | "form", "headers", "auth"},
     "response": {"status": 200, "body": ...},      the documented example (or the smallest body the schema allows)
     "errors": [{"status", "body", "error_type", "error_class", "note"}]}   documented error forms -> our taxonomy

Kept generic on purpose: every provider's contract tests import it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Callable, Coroutine, TypeVar

import httpx

FIXTURES = Path(__file__).resolve().parent / "fixtures"
T = TypeVar("T")


def load_fixture(provider: str, endpoint: str) -> dict[str, Any]:
    """The fixture JSON of one documented endpoint; it must name its documentation page."""
    data = json.loads((FIXTURES / provider / f"{endpoint}.json").read_text(encoding="utf-8"))
    source = data.get("SOURCE")
    assert isinstance(source, dict) and str(source.get("url", "")).startswith("http"), f"{provider}/{endpoint}: SOURCE.url missing"
    return data


def fixture_names(provider: str) -> list[str]:
    """Every endpoint fixture of a provider (file stems), for parametrizing."""
    return sorted(p.stem for p in (FIXTURES / provider).glob("*.json"))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs one coroutine on a fresh event loop (no async pytest plugin needed)."""
    return asyncio.run(coro)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json; charset=utf-8", **(headers or {})},
    )


def documented_response(fixture: dict[str, Any]) -> httpx.Response:
    """The fixture's documented example answer as an httpx.Response."""
    resp = fixture["response"]
    return json_response(resp["body"], resp.get("status", 200), resp.get("headers"))


def error_response(error: dict[str, Any]) -> httpx.Response:
    """One documented error form (status + JSON body, or `text` for a non-JSON body)."""
    if "text" in error:
        return httpx.Response(error["status"], text=error["text"], headers=error.get("headers") or {"content-type": "text/html"})
    return json_response(error["body"], error["status"], error.get("headers"))


class Capture:
    """A MockTransport handler that keeps every request and answers from a list (the last one repeats)
    or with a callable."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def shape(value: Any, depth: int = 6) -> Any:
    """The structure of a JSON value: dict -> {key: shape}, list -> [union of item shapes], scalar -> type name.

    Used to compare the sandbox's answer with the documented example (keys and types, not values).
    """
    if depth == 0:
        return "…"
    if isinstance(value, dict):
        return {k: shape(v, depth - 1) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [shape(v, depth - 1) for v in value]
        merged: Any = None
        for item in items:
            merged = _merge(merged, item)
        return [merged] if items else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a.get(k), b.get(k)) if k in a and k in b else a.get(k, b.get(k)) for k in sorted(a.keys() | b.keys())}
    return a


def shape_at(value: Any, path: str) -> Any:
    """The value at a dotted path ('places.0.photos'); list indices are numbers."""
    for part in path.split(".") if path else []:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def missing_keys(documented: Any, actual: Any, fields: list[str], where: str = "") -> list[str]:
    """Dotted paths of `fields` (the ones our client reads) present in the documented body but absent, or of
    another JSON type, in the actual body. 'a.b' descends into dicts; 'a[].b' into every item of a list."""
    problems: list[str] = []
    for field in fields:
        problems += _check(documented, actual, field.split("."), where or "$")
    return problems


def _check(doc: Any, act: Any, parts: list[str], where: str) -> list[str]:
    if not parts:
        return [] if _kind(doc) == _kind(act) or doc is None or act is None else [f"{where}: {_kind(act)} where the docs have {_kind(doc)}"]
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        key = head[:-2]
        d, a = (doc.get(key) if key else doc), (act.get(key) if key else act)
        if not isinstance(d, list):
            return []
        if not isinstance(a, list):
            return [f"{where}.{head}: missing or not a list"]
        if not d or not a:
            return []
        return _check(d[0], a[0], rest, f"{where}.{head}")
    if not isinstance(doc, dict) or head not in doc:
        return []
    if not isinstance(act, dict) or head not in act:
        return [f"{where}.{head}: missing"]
    return _check(doc[head], act[head], rest, f"{where}.{head}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "string"
