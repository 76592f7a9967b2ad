"""Preview URLs: a platform's own link to an upload, for its moderators' browsers only.

The service stores the link with the match event and never fetches it: no image byte of the
platform's, or anyone's, passes through or stays on the hash bank. The review UI puts it in
an ``<img>`` (blurred and greyscale until the reviewer asks), so only plain web addresses
are accepted: ``http`` or ``https`` with a host, no user name or password in it (they would
be shown in the page), no spaces or control characters, at most ``MAX_CHARS``. Anything
else (``javascript:``, ``data:``, ``file:``, relative paths) is refused with a 422.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

MAX_CHARS = 2048
# The host goes into the review page's Content-Security-Policy: nothing but a DNS name or an IP.
_HOST = re.compile(r"[a-z0-9.-]{1,253}|[0-9a-f:.]{2,45}")


def check_preview_url(value: str) -> str:
    if len(value) > MAX_CHARS:
        raise ValueError(f"a preview URL has at most {MAX_CHARS} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("a preview URL has no spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("a preview URL is http or https")
    if not parts.hostname:
        raise ValueError("a preview URL names a host")
    if not _HOST.fullmatch(parts.hostname):
        raise ValueError("a preview URL names a plain host name or IP address")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a preview URL carries no user name or password")
    del port
    return value


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a checked preview URL (what the page's CSP must allow)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


PreviewUrl = Annotated[str, AfterValidator(check_preview_url)]
