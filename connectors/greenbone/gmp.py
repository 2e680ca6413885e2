"""One GMP session with gvmd (vendor-apis-2.md §33): python-gvm over verified TLS or a Unix socket, opened,
authenticated and always closed within one task; GMP status attributes mapped to our error classes.

python-gvm is GPL-3.0-or-later and an optional extra (`pip install nexus-sync[greenbone]`): it is imported
here, lazily, so the rest of nexus-sync works without it."""
from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nexus_sync.credentials import redact, remember_sent
from nexus_sync.errors import AuthError, ConfigError, RateLimited, SyncError, TransientError, VendorDataError

EXTRA = "pip install 'nexus-sync[greenbone]'"
AUTH_STATUSES = (400, 401, 403)  # gvmd answers a refused authenticate with 400 "Authentication failed"
BUSY_STATUSES = (503,)  # "Service temporarily down": gvmd is busy, try again later


def _gvm() -> Any:
    try:
        import gvm.connections
        import gvm.protocols.gmp
    except ImportError:
        raise ConfigError("the greenbone connector needs python-gvm (GPL-3.0-or-later), an optional extra: "
                          f"{EXTRA}") from None
    return gvm


def _verified_tls(gvm: Any, host: str, port: int, ca_file: str | None, timeout: float) -> Any:
    """python-gvm's TLSConnection verifies nothing unless a client certificate is configured too (it sets
    CERT_NONE): this one always verifies the server against ca_file (or the system store) and its host name."""

    class VerifiedTLSConnection(gvm.connections.TLSConnection):
        def _new_socket(self) -> ssl.SSLSocket:
            context = ssl.create_default_context(cafile=ca_file)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            raw = socket.create_connection((host, port), timeout=timeout)  # connect timeout
            try:
                sock = context.wrap_socket(raw, server_hostname=host)
            except BaseException:
                raw.close()
                raise
            sock.settimeout(timeout)  # read timeout
            return sock

        def connect(self) -> None:
            self._socket = self._new_socket()

        def disconnect(self) -> None:
            if self._socket is not None:
                try:
                    self._socket.close()
                except OSError:  # already gone: closed is what we want
                    pass
                self._socket = None  # type: ignore[assignment]  # python-gvm's base declares it optional

    return VerifiedTLSConnection(hostname=host, port=port, timeout=timeout)


def _unix(gvm: Any, path: str, timeout: float) -> Any:
    return gvm.connections.UnixSocketConnection(path=path, timeout=timeout)


def status_error(what: str, status: int | None, text: str) -> SyncError:
    """A GMP status attribute as one of our error classes."""
    said = f"{what}: GMP status {status} {redact(text)[:200]!r}"
    if status in AUTH_STATUSES and what == "authenticate" or status in (401, 403):
        return AuthError(said)
    if status in BUSY_STATUSES:
        return RateLimited(said, 0.0)
    if status is not None and status >= 500:
        return TransientError(said)
    return VendorDataError(said)  # 400 syntax, 404 missing: asking again gives the same answer


def checked(what: str, response: Any) -> Any:
    """The response's XML root when its status attribute is 2xx, else the mapped error."""
    try:
        root = response.xml()
    except Exception as exc:  # gvm.errors.XmlError or an lxml error: the answer is not XML
        raise VendorDataError(f"{what}: unreadable GMP answer ({type(exc).__name__})") from None
    status = response.status_code
    if status is None or not 200 <= status <= 299:
        raise status_error(what, status, root.get("status_text") or "")
    return root


class Session:
    """An authenticated GMP protocol object: `command(name, **kwargs)` sends one and checks its status."""

    def __init__(self, gmp: Any):
        self.gmp = gmp

    def command(self, name: str, **kwargs: Any) -> Any:
        return checked(name, getattr(self.gmp, name)(**kwargs))


@contextmanager
def session(connector: str, host: str | None, port: int, socket_path: str | None, ca_file: str | None,
            timeout: float, username: str, password: str) -> Iterator[Session]:
    """Connect (version negotiation), authenticate, yield; the connection is closed on every way out.
    Network and TLS failures become TransientError; a certificate that does not verify is a ConfigError."""
    gvm = _gvm()
    remember_sent(password)  # (the store registers what it holds; this says it was sent, as HTTP auth does)
    conn = _unix(gvm, socket_path, timeout) if socket_path else _verified_tls(gvm, host or "", port, ca_file, timeout)
    where = socket_path or f"{host}:{port}"
    try:
        with gvm.protocols.gmp.GMP(conn, transform=lambda response: response) as gmp:
            live = Session(gmp)
            live.command("authenticate", username=username, password=password)
            yield live
    except ssl.SSLCertVerificationError as exc:
        raise ConfigError(f"connector {connector!r}: gvmd at {where}: TLS certificate not trusted "
                          f"({exc.verify_message}); set ca_file to gvmd's CA") from None
    except (OSError, gvm.errors.GvmError) as exc:  # refused, reset, timed out, closed by gvmd
        raise TransientError(f"connector {connector!r}: gvmd at {where}: {type(exc).__name__}: "
                             f"{redact(str(exc))[:200]}") from None
    finally:
        conn.disconnect()  # also when authenticate or a command failed: never a half-open session
