"""The API throttle fails open: with its Redis down or silent, every request is answered (2xx,
within the socket timeout), the failures are counted and logged at most once a minute; with
Redis up, it still limits. The cache's socket timeouts come from the environment."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test.utils import override_settings
from rest_framework.test import APIClient

from api import throttling
from api.throttling import ApiKeyRateThrottle, CacheOutage
from planner.accounts.models import Organization
from planner.settings.base import shared_cache_config
from tests.api.conftest import KeyClient
from tests.project.test_settings import run_python

URL = "/api/v1/products/"
REAL_REDIS = ("127.0.0.1", 6379)


def cache_at(url: str, **extra: object) -> override_settings:
    """The default cache (the throttle's) at ``url``, configured as the settings configure it."""
    return override_settings(CACHES={**settings.CACHES, "default": {**shared_cache_config(url), **extra}})


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> CacheOutage:
    """A fresh failure record (the process's one may have logged within the last minute)."""
    fresh = CacheOutage()
    monkeypatch.setattr(throttling, "CACHE_OUTAGE", fresh)
    return fresh


@pytest.fixture
def refused_url() -> str:
    """A Redis URL on a free local port nothing listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A Redis URL whose server never answers: it listens but never accepts, so the first
    connections hang on their reads and, once its backlog is full, later ones on connecting
    (as with a blackholed address)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def timed_gets(client: APIClient, count: int) -> list[tuple[int, float]]:
    answers = []
    for _ in range(count):
        start = time.perf_counter()
        status = client.get(URL).status_code
        answers.append((status, time.perf_counter() - start))
    return answers


def test_with_the_cache_redis_down_100_requests_all_answer_within_a_second(
    key_client: KeyClient, refused_url: str, outage: CacheOutage, caplog: pytest.LogCaptureFixture
) -> None:
    client = key_client()
    with cache_at(refused_url), caplog.at_level(logging.WARNING, logger="api.throttling"):
        answers = timed_gets(client, 100)
    assert [status for status, _ in answers] == [200] * 100
    assert max(seconds for _, seconds in answers) < 1.0
    assert outage.failures == 100
    [line] = [r for r in caplog.records if r.name == "api.throttling"]
    assert "throttle cache unreachable" in line.getMessage() and "ConnectionError" in line.getMessage()


def test_a_silent_cache_costs_a_request_at_most_the_socket_timeout(
    key_client: KeyClient, silent_url: str, outage: CacheOutage
) -> None:
    assert shared_cache_config(silent_url)["OPTIONS"] == {
        "socket_connect_timeout": 0.1,
        "socket_timeout": 0.1,
    }
    client = key_client()
    with cache_at(silent_url):
        answers = timed_gets(client, 10)
    assert [status for status, _ in answers] == [200] * 10
    assert max(seconds for _, seconds in answers) < 0.5  # 0.1 s timeout, one attempt, plus the view
    assert outage.failures == 10


def test_signed_in_users_are_let_through_too(
    user: User, organization: Organization, refused_url: str, outage: CacheOutage
) -> None:
    client = APIClient()
    client.force_login(user)
    with cache_at(refused_url):
        assert [status for status, _ in timed_gets(client, 5)] == [200] * 5
    assert outage.failures == 5


def test_failures_are_logged_at_most_once_a_minute_and_all_counted(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    outage = CacheOutage(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="api.throttling"):
        for moment in (1000.0, 1001.0, 1030.0, 1059.9, 1060.0, 1061.0):
            now[0] = moment
            outage.record(ConnectionError("refused"))
    messages = [r.getMessage() for r in caplog.records if r.name == "api.throttling"]
    assert len(messages) == 2
    assert "(1 failure(s) since the last report, 1 in this process)" in messages[0]
    assert "(4 failure(s) since the last report, 5 in this process)" in messages[1]
    assert outage.failures == 6


def _real_redis_or_skip() -> None:
    try:
        socket.create_connection(REAL_REDIS, timeout=0.5).close()
    except OSError:
        reason = f"no Redis at {REAL_REDIS[0]}:{REAL_REDIS[1]}."
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} CI must run this test: .ci/run starts Redis.")
        pytest.skip(reason)


def test_with_the_cache_redis_up_the_throttle_still_limits(
    key_client: KeyClient, outage: CacheOutage, monkeypatch: pytest.MonkeyPatch
) -> None:
    _real_redis_or_skip()
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", lambda self: 1_000_000.0)  # one window
    client = key_client()
    # A key prefix of its own: the Redis is shared, and nothing here flushes it (counters expire).
    with cache_at(f"redis://{REAL_REDIS[0]}:{REAL_REDIS[1]}/1", KEY_PREFIX=f"test-{uuid.uuid4().hex}"):
        statuses = [client.get(URL).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert outage.failures == 0


def test_the_socket_timeout_comes_from_the_environment(tmp_path: Path) -> None:
    show = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CACHES['default']['OPTIONS'])"
    )
    cache = {"CACHE_URL": "redis://127.0.0.1:6379/1"}
    default = run_python(["-c", show], cache | {"CACHE_SOCKET_TIMEOUT_SECONDS": ""}, tmp_path)
    assert default.stdout.strip() == "{'socket_connect_timeout': 0.1, 'socket_timeout': 0.1}", default.stderr
    chosen = run_python(["-c", show], cache | {"CACHE_SOCKET_TIMEOUT_SECONDS": "0.05"}, tmp_path)
    assert chosen.stdout.strip() == "{'socket_connect_timeout': 0.05, 'socket_timeout': 0.05}", chosen.stderr
    wrong = run_python(["-c", show], cache | {"CACHE_SOCKET_TIMEOUT_SECONDS": "never"}, tmp_path)
    assert wrong.returncode != 0
    assert "CACHE_SOCKET_TIMEOUT_SECONDS must be a positive number of seconds, got 'never'" in wrong.stderr
