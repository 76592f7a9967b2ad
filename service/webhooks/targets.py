"""Which webhook URLs the service will call, and at which address.

A webhook makes the service send requests wherever a platform says. Left open, that turns the
service into a proxy into its own network (SSRF): a platform key could aim takedowns at the
database, a cloud metadata endpoint or an admin port, and read the snippets of their answers
in its delivery log. So, unless ``webhook_allow_private_targets`` is set (tests, or a
deployment whose platforms really live on a private network):

- only ``http``/``https`` URLs with a host, no user:password, no fragment;
- the host must resolve only to public (globally routable) addresses, checked when the
  webhook is configured and again before every attempt (DNS can change after the check);
- each attempt connects to the address that passed the check (TLS still verifies the
  certificate for the host name), so a name cannot resolve to a public address for the
  check and a private one for the connection (DNS rebinding);
- redirects are never followed (a 3xx is a permanent failure).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

import httpx

MAX_URL_CHARS = 2048


class TargetRefused(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    url: str


def parse(url: str) -> Target:
    """The URL's parts, normalised (IDNA host, percent-encoded path), or ``TargetRefused("webhook_url_invalid", ...)``.

    Parsed by httpx, the client that will send the request, so the check and the request
    cannot read the same URL differently.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise TargetRefused("webhook_url_invalid", f"The URL must be 1 to {MAX_URL_CHARS} characters.")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise TargetRefused("webhook_url_invalid", "The URL may not contain spaces or control characters.")
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").lower()
    except Exception:  # httpx.InvalidURL, IDNA errors: all mean the same to the platform
        raise TargetRefused("webhook_url_invalid", "The URL cannot be parsed.") from None
    if parsed.scheme not in ("http", "https"):
        raise TargetRefused("webhook_url_invalid", "Only http and https URLs are accepted.")
    if not host or (_literal(host) is None and not _HOSTNAME.match(host)):
        raise TargetRefused("webhook_url_invalid", "The URL has no valid host.")
    if parsed.userinfo:
        raise TargetRefused("webhook_url_invalid", "Put no credentials in the URL: verify our signature instead.")
    if parsed.fragment:
        raise TargetRefused("webhook_url_invalid", "The URL may not have a #fragment.")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise TargetRefused("webhook_url_invalid", "The port must be 1 to 65535.")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    normalised = str(parsed)
    if len(normalised) > MAX_URL_CHARS:
        raise TargetRefused("webhook_url_invalid", f"The URL must be 1 to {MAX_URL_CHARS} characters.")
    return Target(parsed.scheme, host, port, normalised)


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}\.?$){_LABEL}(?:\.{_LABEL})*\.?$")


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def resolve(target: Target, allow_private: bool) -> list[str]:
    """The addresses to connect to; refused if any is not public (unless allowed)."""
    literal = _literal(target.host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise TargetRefused("webhook_host_unresolvable", f"{target.host} does not resolve.") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise TargetRefused(
                    "webhook_url_not_allowed",
                    "The URL points at a loopback, private, link-local or reserved address.",
                )
    return addresses


def check_for_config(url: str, allow_private: bool) -> Target:
    """Validate a URL a platform registers: well formed and, unless allowed, not aimed inwards.

    A name that does not resolve yet is accepted (it is checked again before each attempt);
    one that resolves to an inward address is not.
    """
    target = parse(url)
    try:
        resolve(target, allow_private)
    except TargetRefused as refused:
        if refused.code != "webhook_host_unresolvable":
            raise
    return target
