"""SSRF guard for HTTP jobs: which addresses a job may reach.

Refused unless inside JOBS_HTTP_ALLOWED_NETWORKS: every address that is not
globally routable — loopback, private (RFC 1918, ULA), link-local (incl. the
cloud metadata endpoints 169.254.169.254 and fd00:ec2::254), unspecified,
multicast, reserved, shared (CGNAT), documentation ranges — and IPv6 forms
that embed an IPv4 address (mapped ::ffff:a.b.c.d, NAT64, 6to4, Teredo),
which are judged by the IPv4 address inside. Hosts written as non-canonical
IPv4 (2130706433, 0x7f.1, 0177.0.0.1) are refused outright: resolvers read
them differently. A name is refused if ANY address it resolves to is refused.

The check runs three times per request: on the URL before sending, on every
redirect target, and on the peer address of the socket actually connected
(GuardedAdapter), which closes the gap a DNS answer that changes between
check and connect (rebinding) would open.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from jobs.execution import httplimits

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-Fx.]+$")
_DOTTED_QUAD = re.compile(
    r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"
)


class BlockedAddress(Exception):
    """The target is not allowed; the message says which address and why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # without brackets
    port: int
    addresses: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.host}:{self.port}".lower()


def allowed_networks(
    setting: str = "JOBS_HTTP_ALLOWED_NETWORKS",
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in getattr(settings, setting)]


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    return None


def why_blocked(ip: IPAddress) -> str | None:
    """None if `ip` is globally routable; else the reason it is refused."""
    if ip in METADATA:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return f"an IPv4-mapped IPv6 address (of {ip.ipv4_mapped})"
    inner = _embedded_v4(ip)
    if inner is not None:
        reason = why_blocked(inner)
        return f"an IPv6 form of {inner} ({reason})" if reason else None
    for attr, reason in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(ip, attr):
            return reason
    if not ip.is_global:
        return "not a public address"
    return None


def check_ip(
    address: str | IPAddress, *, host: str = "", setting: str = "JOBS_HTTP_ALLOWED_NETWORKS"
) -> IPAddress:
    """Raise BlockedAddress unless `address` may be contacted; `setting`
    names the allowlist of networks (HTTP jobs, or SQL connections)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    reason = why_blocked(ip)
    if reason is None:
        return ip
    candidates = [ip] + ([_embedded_v4(ip)] if _embedded_v4(ip) else [])
    for network in allowed_networks(setting):
        if any(c.version == network.version and c in network for c in candidates):
            return ip
    shown = f"{host} ({ip})" if host and host != str(ip) else str(ip)
    raise BlockedAddress(f"refused to connect to {shown}: {reason} (not in {setting})")


def parse_host(host: str) -> str:
    """Refuse IPv4 written any way but dotted-quad decimal."""
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare) and not _DOTTED_QUAD.match(bare) and _inet_aton_accepts(bare):
        # 2130706433, 0x7f000001, 0177.0.0.1, 127.1: inet_aton reads these as
        # addresses; they only ever appear to sneak past a naive filter.
        raise BlockedAddress(f"refused host {host!r}: a non-canonical numeric IPv4 form")
    return bare.rstrip(".").lower()


def _inet_aton_accepts(text: str) -> bool:
    try:
        socket.inet_aton(text)
        return True
    except OSError:
        return False


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    return sorted({info[4][0] for info in infos})


def check_url(url: str) -> Target:
    """Validate scheme, host and every resolved address of `url`."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "http://[::1/": an unclosed IPv6 bracket
        raise BlockedAddress(f"refused malformed URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedAddress(
            f"refused URL scheme {parts.scheme or '(none)'!r}: only http and https"
        )
    if not parts.hostname:
        raise BlockedAddress("refused URL without a host")
    host = parse_host(parts.hostname)
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise BlockedAddress("refused URL with an invalid port") from None
    addresses = resolve(host, port)
    for address in addresses:
        check_ip(address, host=host)
    return Target(scheme, host, port, tuple(addresses))


# --- the connect-time check ---------------------------------------------------


def _check_peer(sock: socket.socket, host: str) -> None:
    try:
        peer = sock.getpeername()[0]
        check_ip(peer, host=host)
    except BlockedAddress:
        sock.close()
        raise


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock, self.host)
        httplimits.watch_socket(sock)
        return sock


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock, self.host)
        return sock

    def connect(self) -> None:
        super().connect()
        httplimits.watch_socket(self.sock)  # the TLS socket, once wrapped


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every new socket is checked after connect."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }

    def proxy_manager_for(
        self, *args: Any, **kwargs: Any
    ):  # pragma: no cover - proxies are disabled
        raise BlockedAddress("HTTP jobs do not use proxies")
