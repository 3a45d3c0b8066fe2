"""The sandbox on a loopback port, and a transport that sends real-URL requests to it."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from venue_pipeline.sandbox.app import Sandbox

log = logging.getLogger(__name__)

REQUEST_LOG_PATH = "/__sandbox__/requests"
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"})


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, timeout_sleep_s: float) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self.timeout_sleep_s = timeout_sleep_s
        self.stopping = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("sandbox server: " + format, *args)

    def _dispatch(self) -> None:
        if self.path == REQUEST_LOG_PATH:  # the sandbox's own: every request it answered, with its time
            with self.server.sandbox.lock:
                rows = list(self.server.sandbox.request_log)
            body = json.dumps([{"t": t, "provider": p, "kind": k} for t, p, k in rows]).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        host = (self.headers.get("host") or "localhost").split(":")[0]
        headers = [(k, v) for k, v in self.headers.items() if k.lower() != "host"]
        headers.append(("host", host))
        request = httpx.Request(self.command, f"https://{host}{self.path}", headers=headers, content=body)
        try:
            response = self.server.sandbox.handle(request)
        except httpx.TimeoutException:
            # a timeout fault: hold the connection longer than any sane client timeout, then drop it
            self.server.stopping.wait(self.server.timeout_sleep_s)
            self.close_connection = True
            return
        except httpx.TransportError:
            self.close_connection = True
            return
        except Exception:  # a sandbox bug must look like a server error, not a dead socket
            log.exception("sandbox handler failed")
            response = httpx.Response(500, content=b"sandbox error", headers={"content-type": "text/plain"})
        hold = self.server.sandbox.hold_s(host)
        if hold > 0:  # a provider made N times slower: its answer leaves (N - 1) round trips late
            self.server.stopping.wait(hold)
        self.send_response(response.status_code)
        for key, value in response.headers.multi_items():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        declared = response.headers.get("content-length")
        chunks: Any
        try:
            content = response.content  # bodies built from bytes are already in memory
            chunks = [content]
            declared = declared or str(len(content))
        except httpx.ResponseNotRead:  # streamed bodies (the oversized fault) are sent chunk by chunk
            chunks = response.iter_raw()
            declared = declared or "0"
        self.send_header("content-length", declared)
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):  # clients abort oversized downloads on purpose
            self.close_connection = True

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch
    do_HEAD = _dispatch
    do_PATCH = _dispatch


@dataclass
class RunningServer:
    """A sandbox listening on 127.0.0.1; stop() it when done."""

    server: _SandboxHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, timeout_sleep_s: float = 30.0) -> RunningServer:
    """Start the sandbox in a background thread; port 0 picks a free port."""
    server = _SandboxHTTPServer((host, port), sandbox, timeout_sleep_s)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-server", daemon=True)
    thread.start()
    return RunningServer(server, thread)


def serve_forever(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 8765, *, timeout_sleep_s: float = 30.0) -> None:
    """Run the sandbox in the foreground (the CLI's `sandbox serve`) until interrupted."""
    running = serve(sandbox, host, port, timeout_sleep_s=timeout_sleep_s)
    log.info("sandbox listening on %s", running.base_url)
    try:
        running.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


class LoopbackTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Sends every request to the loopback sandbox, keeping the real host in the Host header."""

    def __init__(self, base_url: str) -> None:
        self.base = httpx.URL(base_url)
        # the pool services.open_services asks for (a client's limits do not reach a transport given to it)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._sync = httpx.HTTPTransport(limits=limits)
        self._async = httpx.AsyncHTTPTransport(limits=limits)

    def _rewrite(self, request: httpx.Request, content: bytes) -> httpx.Request:
        url = request.url.copy_with(scheme=self.base.scheme, host=self.base.host, port=self.base.port)
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "host"]
        headers.append(("host", request.url.host))
        return httpx.Request(request.method, url, headers=headers, content=content, extensions=request.extensions)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._sync.handle_request(self._rewrite(request, request.read()))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._async.handle_async_request(self._rewrite(request, await request.aread()))

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()
