"""Origins (scheme://host:port) and the rule that a vendor-supplied URL stays on the connector's own (DESIGN §10)."""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from urllib3.util import parse_url

from nexus_sync.errors import ForeignOriginError

DEFAULT_PORTS: dict[str, int | str] = {"https": 443, "http": 80}  # "" for another scheme: no default


def origin_of(url: str) -> str:
    """"scheme://host:port" of a URL as the HTTP stack connects to it: host lower-cased, default port explicit."""
    try:
        parts = parse_url(url)
    except ValueError:  # urllib3's LocationParseError, e.g. a port that is not a number
        return "invalid://"
    scheme = (parts.scheme or "").lower()
    port = parts.port or DEFAULT_PORTS.get(scheme, "")
    return f"{scheme}://{(parts.host or '').lower()}:{port}"


def _split_origin(url: str) -> str:
    """The same origin as the standard library reads it; a URL the two parsers disagree on is refused."""
    try:
        parts = urlsplit(url)
        scheme, port = parts.scheme.lower(), parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), "")
    except ValueError:
        return "invalid://"
    host = parts.hostname or ""
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def check_origin(url: str, origin: str, connector: str, what: str = "a URL") -> None:
    """ForeignOriginError unless url is on `origin`; the message names the connector and the foreign origin only
    (a path or query may carry a token)."""
    seen = origin_of(url)
    if seen != origin:
        raise ForeignOriginError(f"connector {connector!r}: refused {what} to the foreign origin {seen} "
                                 f"(its own is {origin}); no request was sent there")
    if _split_origin(url) != origin or "@" in urlsplit(url).netloc:
        raise ForeignOriginError(f"connector {connector!r}: refused {what} with an ambiguous URL (user info, or "
                                 f"parsers disagree on its host) near {seen}; no request was sent")


def resolve_vendor_url(base_url: str, url: str, connector: str) -> str:
    """urljoin(base_url, url), returned only when it keeps the base's scheme, host and port (http:// from an
    https base is a foreign origin: a downgrade); otherwise ForeignOriginError."""
    joined = urljoin(base_url, url)
    check_origin(joined, origin_of(base_url), connector)
    return joined
