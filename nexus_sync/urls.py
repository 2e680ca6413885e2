"""URL rules of DESIGN §10 shared by connector configs, webhooks and error messages: https except to
loopback, and credentials inside a URL (userinfo, a password-looking query parameter) masked in text."""
from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

LOOPBACK_NAMES = {"localhost"}

# scheme://user:password@ → scheme://***@ (any scheme: postgresql, redis, tcp, https ...)
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@")
# ?password=… &client_secret=… &api_key=… &token=… ; paging tokens (page_token, next_token) stay readable
_QUERY_SECRET_RE = re.compile(
    r"(?i)([?&;](?:[\w.-]*(?:password|passwd|pwd|secret)[\w.-]*|(?:access_|auth_|id_|refresh_)?token"
    r"|api[_-]?key|apikey|key|auth|sig|signature)=)[^&;#\s'\"]*")


def mask(text: str) -> str:
    """`text` with URL userinfo and secret-looking query values replaced by '***'."""
    return _QUERY_SECRET_RE.sub(r"\1***", _USERINFO_RE.sub(r"\1***@", text))


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or localhost: the simulator and local test servers."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(url: str, field: str, allow_insecure_http: bool = False) -> None:
    """ValueError naming `field` when `url` is http:// to a host that is not loopback (and not opted out)."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ValueError(f"{field}: http:// is allowed only to loopback (127.0.0.0/8, ::1, localhost); "
                         f"use https:// or set allow_insecure_http: true")
