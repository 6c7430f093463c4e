"""The SSRF guard: which addresses HTTP jobs may reach, checked on the URL,
on each redirect and on the socket actually connected."""

from __future__ import annotations

import pytest
import requests
from django.test import override_settings

from jobs.execution import netguard
from jobs.execution.netguard import BlockedAddress, GuardedAdapter, check_ip, check_url
from tests.jobs.kinds_support import http_server, json_response


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://localhost/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
        ("http://[::ffff:8.8.8.8]/", "IPv4-mapped"),
        ("http://[64:ff9b::a00:1]/", "IPv6 form of 10.0.0.1"),
        ("http://[2002:7f00:1::]/", "IPv6 form of 127.0.0.1"),
        ("http://100.64.0.1/", "not a public address"),
        ("http://2130706433/", "non-canonical"),
        ("http://0x7f000001/", "non-canonical"),
        ("http://0177.0.0.1/", "non-canonical"),
        ("http://127.1/", "non-canonical"),
        ("http://017700000001/", "non-canonical"),
        ("ftp://example.com/", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("http:///nohost", "without a host"),
    ],
)
def test_refused_targets_name_the_reason(url, reason):
    with (
        override_settings(JOBS_HTTP_ALLOWED_NETWORKS=[]),
        pytest.raises(BlockedAddress, match=reason),
    ):
        check_url(url)


def test_public_addresses_pass():
    assert check_url("http://93.184.216.34:8080/x").port == 8080
    assert str(check_ip("2606:4700::1111")) == "2606:4700::1111"


def test_allowed_networks_open_exactly_their_range():
    with override_settings(JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.2/32", "10.0.0.0/8"]):
        check_ip("127.0.0.2")
        check_ip("10.200.0.1")
        check_ip("::ffff:10.0.0.1")  # the mapped form of an allowed address
        with pytest.raises(BlockedAddress):
            check_ip("127.0.0.1")
        with pytest.raises(BlockedAddress):
            check_ip("192.168.1.1")


def test_a_name_is_refused_if_any_of_its_addresses_is_refused(monkeypatch):
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["93.184.216.34", "10.0.0.5"])
    with (
        override_settings(JOBS_HTTP_ALLOWED_NETWORKS=[]),
        pytest.raises(BlockedAddress, match=r"api.example.com \(10.0.0.5\): a private address"),
    ):
        check_url("https://api.example.com/")


def test_connected_peer_is_checked_even_when_the_pre_check_was_fooled(monkeypatch):
    """DNS rebinding: the name looked public when checked, but the socket
    lands on loopback. The adapter refuses after connect, before sending."""
    with (
        http_server(lambda r: json_response({"secret": 1})) as srv,
        override_settings(JOBS_HTTP_ALLOWED_NETWORKS=[]),
    ):
        monkeypatch.setattr(netguard, "resolve", lambda host, port: ["93.184.216.34"])
        check_url(f"http://localhost:{srv.port}/")  # fooled
        session = requests.Session()
        session.trust_env = False
        session.mount("http://", GuardedAdapter())
        with pytest.raises(BlockedAddress, match="refused to connect to localhost \\(127.0.0.1\\)"):
            session.get(f"http://localhost:{srv.port}/", timeout=5)
    assert srv.requests == []


def test_guarded_adapter_lets_allowed_peers_through():
    with (
        http_server(lambda r: json_response({"ok": True})) as srv,
        override_settings(JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32"]),
    ):
        session = requests.Session()
        session.mount("http://", GuardedAdapter())
        assert session.get(srv.url("/"), timeout=5).json() == {"ok": True}
