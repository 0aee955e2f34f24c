"""Where a click may send the browser (no open redirect, no header injection).

`redirect_url` is parsed as browsers parse it, by the WHATWG URL Standard
(https://url.spec.whatwg.org/), with ada (https://github.com/ada-url/ada, the parser Node.js uses),
not by rules written here: urllib's RFC 3986 reading disagrees with browsers (a backslash is a slash
to a browser, so `https://evil.example\\@promo.example` goes to evil.example) and raises on input a
browser merely refuses (`https://[x`). The decision is made on the parsed host (lower-cased,
percent-decoded, IDNA-mapped to ASCII) and `Location` is the parsed URL serialized again, so what
we checked is what the browser gets. Anything in doubt goes to the store instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from ada_url import URL, HostType

# Browsers and API Gateway cope with far longer, but no ad link needs more; percent-encoding can
# grow a value up to 9 times (3 bytes of UTF-8, each %XX), hence the second cap.
MAX_REDIRECT_URL_CHARS = 2048
MAX_LOCATION_CHARS = 8192
# The last resort when neither the app nor the settings name a usable store page.
BUILT_IN_FALLBACK = "https://www.apple.com/app-store/"

# Unicode categories refused anywhere in a raw redirect_url: controls (C0, DEL, C1), format
# characters (zero-width and bidi controls), every kind of space, and lone surrogates. The WHATWG
# parser strips or drops some of these silently; a link that carries them is not one we trust.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
# The authority ends at the first of these (WHATWG: a backslash too, for special schemes).
_AUTHORITY_END = "/\\?#"


def has_control_or_space(text: str) -> bool:
    if text.isascii():
        return any(ord(char) <= 0x20 or ord(char) == 0x7F for char in text)
    return any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in text)


def _parse(text: str) -> URL | None:
    try:
        return URL(text)
    except (ValueError, UnicodeError):  # ada: "Invalid input"; a lone surrogate cannot be encoded
        return None


def _header_safe(href: str) -> bool:
    """Printable ASCII without spaces or backslashes: nothing a header block or an RFC 3986 reader
    could take differently (ada percent-encodes the rest; this only guards that promise)."""
    return (
        len(href) <= MAX_LOCATION_CHARS
        and href.isascii()
        and href.isprintable()
        and " " not in href
        and "\\" not in href
    )


@lru_cache(maxsize=1024)
def normalize_domain(domain: str) -> str | None:
    """An allowed domain in the form hosts are compared in (ASCII, lower case, no trailing dot),
    read by the same WHATWG host parser, or None when it is not a domain name."""
    text = domain.strip().rstrip(".")
    if not text or has_control_or_space(text) or any(char in text for char in "/\\?#@:[]%"):
        return None
    parsed = _parse(f"https://{text}/")
    if parsed is None or parsed.host_type != HostType.DEFAULT:
        return None
    host = parsed.hostname
    return host if host and not host.endswith(".") and ".." not in host else None


def _allowed_host(host: str, domains: Iterable[str]) -> bool:
    for domain in domains:
        normalized = normalize_domain(domain)
        if normalized and (host == normalized or host.endswith("." + normalized)):
            return True
    return False


def safe_redirect(raw: str | None, domains: Sequence[str]) -> str | None:
    """`Location` for `redirect_url`, or None when it is not an https URL on an allowed domain."""
    if not raw or not domains or len(raw) > MAX_REDIRECT_URL_CHARS or has_control_or_space(raw):
        return None
    # `https:evil.example` and `https:/\evil.example` parse (to evil.example): only the plain
    # two-slash form is taken, so no slash trick is ever needed to read a link.
    if raw[:8].lower() != "https://":
        return None
    rest = raw[8:]
    end = min((index for index in (rest.find(char) for char in _AUTHORITY_END) if index >= 0), default=len(rest))
    authority = rest[:end]
    # No userinfo and no port, not even :443: an ad link has neither, and both are classic tricks.
    # (An empty one is `https:///...`, where the parser skips slashes to find the host.)
    if not authority or "@" in authority or ":" in authority:
        return None
    parsed = _parse(raw)
    if parsed is None or parsed.protocol != "https:" or parsed.host_type != HostType.DEFAULT:
        return None
    if parsed.username or parsed.password or parsed.port:
        return None
    host = parsed.hostname
    # A trailing dot or an empty label names the same zone to DNS but another origin to a browser.
    if not host or host.endswith(".") or ".." in host or not _allowed_host(host, domains):
        return None
    href = parsed.href
    return href if _header_safe(href) else None


def safe_fallback(url: str | None) -> str | None:
    """An operator's store page or default URL, serialized by the same parser so that nothing
    configured can split the header block either. Any scheme (itms-apps:, market:) but script ones."""
    if not url or len(url) > MAX_REDIRECT_URL_CHARS or has_control_or_space(url):
        return None
    parsed = _parse(url)
    if parsed is None or parsed.protocol in ("javascript:", "data:", "vbscript:", "file:", "blob:"):
        return None
    href = parsed.href
    return href if _header_safe(href) else None


def first_fallback(candidates: Iterable[str | None]) -> str:
    for candidate in candidates:
        location = safe_fallback(candidate)
        if location is not None:
            return location
    return BUILT_IN_FALLBACK
