"""A small ClickHouse-HTTP-compatible server around ONE embedded chdb session.

chdb allows only one process per data directory, so the dev stack runs exactly one
of these and every worker talks to it over HTTP, with the same client code that
works against a real ClickHouse on port 8123.

    NEXUS_CHDB_PASSWORD=... python -m nexus_sync.dev.chdb_server --path DIR --port PORT [--host 127.0.0.1]

Supported subset of the ClickHouse HTTP interface:

* ``GET /ping`` -> ``Ok.\\n`` (no credentials needed); any other GET, and any other method but POST: 405.
* ``POST /?query=SQL`` with an optional body: the executed SQL is ``query + "\\n" + body``
  (``INSERT INTO t FORMAT JSONEachRow`` in the URL, rows in the body); without a ``query``
  parameter the body is the SQL. Only POST runs queries, so a web page cannot make a
  browser run one with a link or an image.
* every query request authenticates as user ``default`` with the password from the
  NEXUS_CHDB_PASSWORD environment variable, by HTTP Basic auth or ``X-ClickHouse-User`` /
  ``X-ClickHouse-Key`` (as a real ClickHouse accepts); otherwise 401. Query-string
  credentials are not accepted (they end up in logs).
* what a query may reach is limited by nexus_sync.dev.chdb_policy: no files, URLs or other
  servers (403 with ``Code: 497 ... ACCESS_DENIED``).
* ``default_format`` (else TabSeparated), ``database`` and ``param_<name>`` (for
  ``{name:Type}`` placeholders) parameters; any other parameter that is not an
  HTTP-only knob is applied as a ClickHouse setting for that one query.
* request bodies with Content-Length or chunked transfer encoding, optionally
  ``Content-Encoding: gzip`` / ``deflate``.
* 200 with the raw bytes chdb returns; on error 500 (403 for a refused one) with
  ``Code: NN. DB::Exception: ...`` in the body and the ``X-ClickHouse-Exception-Code`` header.

Queries run one at a time (a lock around the session). SIGTERM/SIGINT stop the
server and close the session cleanly.
"""
from __future__ import annotations

import argparse
import base64
import hmac
import logging
import os
import re
import signal
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from nexus_sync.dev.chdb_policy import SqlGuard, connection_string

log = logging.getLogger("nexus_sync.dev.chdb_server")

DEFAULT_FORMAT = "TabSeparated"
PASSWORD_ENV = "NEXUS_CHDB_PASSWORD"
USER = "default"
ACCESS_DENIED = 497
_REFUSED_CODES = {ACCESS_DENIED: 403, 452: 403}  # 452 = SETTING_CONSTRAINT_VIOLATION

# URL parameters of the ClickHouse HTTP interface that are not query settings.
_HTTP_ONLY_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "enable_http_compression",
        "http_zlib_compression_level",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "wait_end_of_query",
        "buffer_size",
        "role",
        "client_protocol_version",
        "cancel_http_readonly_queries_on_client_close",
    }
)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ERROR_CODE = re.compile(r"Code:\s*(\d+)")


class QueryError(Exception):
    """The engine rejected a query; ``str()`` is the ClickHouse-style message."""

    def __init__(self, message: str):
        super().__init__(message)
        m = _ERROR_CODE.search(message)
        self.code = int(m.group(1)) if m else 1002  # 1002 = UNKNOWN_EXCEPTION


class ChdbEngine:
    """Owns the chdb session; every call is serialised by one lock."""

    def __init__(self, path: str | Path):
        from chdb.session import Session  # heavy import: only in the server process

        self.path = str(path)
        Path(self.path).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._session: Session | None = Session(connection_string(Path(self.path)))
        functions = self._run("SELECT name FROM system.table_functions", DEFAULT_FORMAT)
        self.guard = SqlGuard(functions.decode().split())

    @property
    def closed(self) -> bool:
        return self._session is None

    def _run(self, sql: str, fmt: str, params: dict | None = None) -> bytes:
        if self._session is None:  # callers check it under the lock; this tells mypy
            raise QueryError("Code: 1002. DB::Exception: server is shutting down")
        try:
            res = self._session.query(sql, fmt, params=params or None)
        except Exception as exc:  # chdb raises ChdbError (a RuntimeError)
            msg = str(exc).strip() or type(exc).__name__
            if not msg.startswith("Code:"):
                msg = f"Code: 1002. DB::Exception: {msg}"
            raise QueryError(msg) from None
        if hasattr(res, "has_error") and res.has_error():
            raise QueryError(res.error_message())
        if isinstance(res, (bytes, bytearray)):
            return bytes(res)
        if isinstance(res, str):
            return res.encode()
        return res.bytes()

    def execute(
        self,
        sql: str,
        fmt: str = DEFAULT_FORMAT,
        *,
        database: str | None = None,
        settings: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> bytes:
        refusal = self.guard.refusal(sql)
        if refusal:
            raise QueryError(f"Code: {ACCESS_DENIED}. DB::Exception: {refusal}. (ACCESS_DENIED)")
        with self._lock:
            if self._session is None:
                raise QueryError("Code: 1002. DB::Exception: server is shutting down")
            applied: list[str] = []
            try:
                if database:
                    self._run(f"USE {_quote_ident(database)}", DEFAULT_FORMAT)
                for name, value in (settings or {}).items():
                    self._run(f"SET {name} = {_quote_literal(value)}", DEFAULT_FORMAT)
                    applied.append(name)
                return self._run(sql, fmt, params)
            finally:
                # a ClickHouse HTTP request without session_id starts fresh: undo what
                # this request changed in the shared session
                for name in applied:
                    try:
                        self._run(f"SET {name} = DEFAULT", DEFAULT_FORMAT)
                    except QueryError:
                        log.warning("could not reset setting %s", name)
                if database or re.match(r"\s*USE\s", sql, re.IGNORECASE):
                    try:
                        self._run("USE default", DEFAULT_FORMAT)
                    except QueryError:
                        pass

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                try:
                    self._session.close()
                finally:
                    self._session = None


def _quote_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _quote_literal(value: str) -> str:
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ProtocolError(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server_version = "nexus-chdb"
    sys_version = ""
    server: "ChdbHTTPServer"

    # -- plumbing --------------------------------------------------------------
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        if self.server.verbose:
            log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ProtocolError("truncated chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after the chunk
            body = b"".join(chunks)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        enc = self.headers.get("Content-Encoding", "").strip().lower()
        if body and enc in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif body and enc == "deflate":
            body = zlib.decompress(body)
        elif enc not in ("", "identity"):
            raise ProtocolError(f"unsupported Content-Encoding: {enc}")
        return body

    # -- verbs -----------------------------------------------------------------
    def do_GET(self) -> None:
        if (urlsplit(self.path).path.rstrip("/") or "/") == "/ping":
            self._send(200, b"Ok.\n")
        else:
            self._not_allowed()

    do_HEAD = do_GET

    def do_POST(self) -> None:
        if not self._authorized():
            self._discard_body()
            self._send(401, f"Code: 516. DB::Exception: {USER}: Authentication failed: the password is "
                            f"incorrect or missing. (AUTHENTICATION_FAILED)\n".encode(),
                       {"WWW-Authenticate": 'Basic realm="nexus chdb"', "X-ClickHouse-Exception-Code": "516"})
            return
        self._handle()

    def _discard_body(self, limit: int = 1 << 20) -> None:
        """Read a small unauthenticated body away (closing with it unread can reset the connection before the
        client sees the 401); anything bigger or chunked closes the connection instead."""
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= limit and "chunked" not in self.headers.get("Transfer-Encoding", ""):
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send(405, b"Code: 1002. DB::Exception: only POST runs queries here; GET serves /ping only.\n",
                   {"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _credentials(self) -> tuple[str, str]:
        """(user, password) of HTTP Basic auth or the X-ClickHouse-User/-Key headers; empty when absent."""
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                user, _, key = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return "", ""
            return user, key
        return self.headers.get("X-ClickHouse-User", USER), self.headers.get("X-ClickHouse-Key", "")

    def _authorized(self) -> bool:
        user, key = self._credentials()
        user_ok = hmac.compare_digest(user.encode(), USER.encode())
        key_ok = hmac.compare_digest(key.encode(), self.server.password.encode())
        return bool(key) and user_ok and key_ok

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ProtocolError, ValueError, zlib.error) as exc:
            self.close_connection = True
            self._send(400, f"Code: 1002. DB::Exception: bad request body: {exc}\n".encode())
            return

        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        qs = dict(parse_qsl(url.query, keep_blank_values=True))

        if path == "/ping":
            self._send(200, b"Ok.\n")
            return
        if path != "/":
            self._send(404, f"Code: 1002. DB::Exception: no handler for {path}\n".encode())
            return

        try:
            text = body.decode("utf-8") if body else ""
        except UnicodeDecodeError:
            self._send(400, b"Code: 1002. DB::Exception: body is not UTF-8 text\n")
            return
        query = qs.get("query")
        if query is not None and text:
            sql = query + "\n" + text
        elif query is not None:
            sql = query
        else:
            sql = text
        if not sql.strip():
            self._send(400, b"Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)\n",
                       {"X-ClickHouse-Exception-Code": "62"})
            return

        fmt = qs.get("default_format") or DEFAULT_FORMAT
        params = {k[len("param_"):]: v for k, v in qs.items() if k.startswith("param_")}
        settings = {
            k: v
            for k, v in qs.items()
            if k not in _HTTP_ONLY_PARAMS and not k.startswith(("param_", "http_"))
            and _SETTING_NAME.match(k)
        }
        t0 = time.perf_counter()
        try:
            out = self.server.engine.execute(
                sql, fmt, database=qs.get("database"), settings=settings, params=params
            )
        except QueryError as exc:
            msg = str(exc)
            log.info("query failed (%s): %s", exc.code, msg.splitlines()[0][:300])
            self._send(_REFUSED_CODES.get(exc.code, 500), (msg.rstrip("\n") + "\n").encode("utf-8", "replace"),
                       {"X-ClickHouse-Exception-Code": str(exc.code)})
            return
        except Exception as exc:  # never let one request take the server down
            log.exception("internal error")
            self._send(500, f"Code: 1002. DB::Exception: internal error: {exc!r}\n".encode(),
                       {"X-ClickHouse-Exception-Code": "1002"})
            return
        elapsed = time.perf_counter() - t0
        if self.server.verbose:
            log.info("query ok in %.1f ms: %s", elapsed * 1000, sql[:120].replace("\n", " "))
        self._send(200, out, {"X-ClickHouse-Format": fmt})


class ChdbHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], engine: ChdbEngine, password: str, verbose: bool = False):
        if not password:
            raise ValueError("the chdb server needs a password")
        self.engine = engine
        self.password = password
        self.verbose = verbose
        super().__init__(addr, Handler)


def serve(path: str, port: int, password: str, host: str = "127.0.0.1", verbose: bool = False) -> int:
    try:
        engine = ChdbEngine(path)  # fails here (before binding) if another process owns the dir
    except Exception as exc:
        log.error(
            "cannot open chdb data dir %s (chdb allows ONE process per directory: is another "
            "server or a chdb session using it?): %s", path, exc,
        )
        return 1
    try:
        server = ChdbHTTPServer((host, port), engine, password, verbose)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc)
        engine.close()
        return 1

    def _stop(signum, _frame):
        log.info("signal %s: shutting down", signum)
        # shutdown() waits for serve_forever() to return: call it off the main thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("chdb server on http://%s:%s, data %s", host, server.server_address[1], path)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()  # waits for a running query (same lock)
        log.info("session closed, bye")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nexus_sync.dev.chdb_server", description=__doc__.split("\n")[0])
    ap.add_argument("--path", required=True, help="chdb data directory (one process per directory)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--verbose", action="store_true", help="log every request")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        log.error("set %s: every query must authenticate (user %s, that password)", PASSWORD_ENV, USER)
        return 2
    return serve(args.path, args.port, password, args.host, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
