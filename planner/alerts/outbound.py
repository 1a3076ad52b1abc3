"""Outbound HTTP for alert channels, guarded against server-side request forgery.

A channel URL is checked when it is saved (``url_problem``) and again at every send
(``post_json``): the scheme must be ``https`` (``http`` only with
``PLANNER_ALERT_ALLOW_PRIVATE_URLS``), the URL carries no credentials, and every address the
host resolves to must be public (not private, loopback, link-local, multicast, reserved or
unspecified; an IPv4-mapped IPv6 address is judged by its IPv4 address) unless
``PLANNER_ALERT_ALLOW_PRIVATE_URLS`` is on (tests, local receivers). The connection then goes
to the address that was checked (pinned: the host is not resolved a second time, so a DNS
answer that changes between the check and the connection cannot reach an internal address),
with TLS verified against the URL's host name. Redirects are not followed, proxies from the
environment are not used, at most ``MAX_RESPONSE_BYTES`` of the answer are read, and every
socket operation times out after ``ALERTS_HTTP_TIMEOUT_SECONDS``.

Error messages name the host, never the path or query (a Slack URL's path is its secret).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.utils import timezone

#: How much of a receiver's answer is read (enough for an error message).
MAX_RESPONSE_BYTES = 4096
USER_AGENT = "MarginPlanner-Webhooks/1"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedURL(Exception):
    """The URL may not be called (scheme, credentials, or a non-public address)."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    retry_after: float | None  # seconds, from a Retry-After header


def allow_private() -> bool:
    return bool(settings.PLANNER_ALERT_ALLOW_PRIVATE_URLS)


def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (tests replace this to play DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (address.is_multicast or address.is_reserved)


def _split(url: str) -> SplitResult:
    """The parts of an acceptable URL; ``RefusedURL`` says what is wrong otherwise."""
    if not isinstance(url, str) or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise RefusedURL("Enter a URL without spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a port out of range)
    except ValueError as error:
        raise RefusedURL(f"Not a valid URL: {error}.") from error
    schemes = ("https", "http") if allow_private() else ("https",)
    if parts.scheme not in schemes:
        raise RefusedURL("Use an https:// URL.")
    if not parts.hostname:
        raise RefusedURL("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("Put no credentials in the URL: deliveries are signed instead.")
    return parts


def _checked_address(parts: SplitResult) -> str:
    """The address to connect to: the first one ``parts.hostname`` resolves to, every one of
    them public (any address when private URLs are allowed)."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = _resolve(host, port)
        except (OSError, UnicodeError) as error:
            raise RefusedURL(f"The host {host} does not resolve ({error}).") from error
        if not addresses:
            raise RefusedURL(f"The host {host} does not resolve.")
    if not allow_private():
        for address in addresses:
            if not _is_public(ipaddress.ip_address(address.split("%")[0])):
                raise RefusedURL(
                    f"The host {host} is a private, loopback, link-local or reserved address ({address})."
                )
    return addresses[0]


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be a channel URL, or None (save-time check: scheme, credentials and,
    unless private URLs are allowed, that the host resolves to public addresses only)."""
    try:
        parts = _split(url)
        if not allow_private():
            _checked_address(parts)
    except RefusedURL as error:
        return str(error)
    return None


def url_host(url: str) -> str:
    """The host of ``url`` (for messages and logs: the path may be a secret)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to ``address`` while the request names ``host``."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to ``address``; TLS verifies the certificate against ``host``."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - timezone.now()).total_seconds())


def post_json(url: str, body: bytes, headers: dict[str, str]) -> HttpAnswer:
    """POST ``body`` (JSON) to ``url`` through the checks of the module docstring. Raises
    ``RefusedURL`` for a refused URL and ``OSError`` (timeouts, refused connections, TLS) or
    ``http.client.HTTPException`` when the exchange fails; any HTTP answer is returned."""
    parts = _split(url)
    address = _checked_address(parts)
    connection_class: Any = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection = connection_class(
        parts.hostname, port, address=address, timeout=settings.ALERTS_HTTP_TIMEOUT_SECONDS
    )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        answer = HttpAnswer(
            status=response.status,
            body=response.read(MAX_RESPONSE_BYTES),
            retry_after=_retry_after(response.getheader("Retry-After")),
        )
    finally:
        connection.close()
    return answer
