"""A real HTTP server on 127.0.0.1 for connector tests: its own port is its own origin; it answers from a
route table and records every request it receives (headers and body), so a test can prove what reached it."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Received:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def add(self, method: str, path: str, body: bytes | str = b"", status: int = 200,
            headers: dict[str, str] | None = None, content_type: str = "application/json") -> None:
        """Answer method+path (query ignored) with this; several answers for one route are served in turn."""
        raw = body.encode() if isinstance(body, str) else body
        hdrs = (("Content-Type", content_type), *(headers or {}).items())
        self.routes.setdefault((method, path), []).append(Answer(status, raw, hdrs))

    def _answer(self, method: str, path: str) -> Answer:
        with self._lock:
            queue = self.routes.get((method, path))
            if not queue:
                return Answer(404, b'{"error": "no route"}', (("Content-Type", "application/json"),))
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def __enter__(self) -> "LocalServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
                answer = server._answer(self.command, urlsplit(self.path).path)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
