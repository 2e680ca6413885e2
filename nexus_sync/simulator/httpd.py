"""The simulator's HTTP plumbing: a threading server with keep-alive, and the handler that hands each
request to :meth:`Simulator.dispatch` and writes its answer (or the injected reset / truncated body)."""
from __future__ import annotations

import logging
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from nexus_sync.simulator.messages import Response, json_response

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def dispatch(self, method: str, path: str, raw_query: str, headers: Any, body: bytes) -> Response: ...


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: Dispatcher):
        self.simulator = simulator
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop kept-alive client connections so no handler thread outlives stop()."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:  # the client hung up already: nothing left to drop
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connectors reuse their session's connections
    server_version = "nexus-sim/0.1"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this
    server: SimHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        try:
            resp = self.server.simulator.dispatch(self.command, split.path, split.query, self.headers, body)
        except Exception as exc:
            log.exception("simulator dispatch failed")
            resp = json_response(500, {"error": f"simulator error: {exc!r}"})
        if resp.abort == "reset":  # RST instead of an answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers:
            self.send_header(k, v)
        self.end_headers()
        if resp.abort == "truncate":  # promise the whole body, send half, hang up
            self.wfile.write(resp.body[: len(resp.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if resp.body:
            self.wfile.write(resp.body)
