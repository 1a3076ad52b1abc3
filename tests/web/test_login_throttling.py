"""Login throttling (django-axes, planner.accounts.login_throttling), through the real login views
with the client's address in REMOTE_ADDR: 10 failures of one username from one IP lock that pair
even against the right password, with a page that says when to retry; other IPs are not locked
out; 50 failures from one IP across usernames lock the IP; the admin login counts and is refused
alike; failures older than the cool-off are forgotten; API keys are not throttled by it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from planner.accounts.api_keys import api_key_create
from planner.accounts.models import ApiKey, Organization
from tests.factories import UserFactory

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
ATTACKER = "203.0.113.7"
NEIGHBOUR = "198.51.100.20"
ROOT = Path(__file__).resolve().parents[2]


def sign_in(username: str, password: str, *, ip: str = ATTACKER, path: str = "/login/") -> Response:
    """POST the login form as a fresh browser at ``ip``."""
    return Client(REMOTE_ADDR=ip).post(path, {"username": username, "password": password})


def fail(times: int, username: str, *, ip: str = ATTACKER, path: str = "/login/") -> None:
    for _ in range(times):
        assert sign_in(username, "wrong password", ip=ip, path=path).status_code in {200, 429}


def signed_in_as(response: Response, user: User) -> bool:
    return bool(response.status_code == 302 and response.client.session.get("_auth_user_id") == str(user.pk))


def assert_refused(response: Response) -> None:
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed sign-ins. Try again after" in text
    assert "(in 15 minutes)" in text
    assert response["Retry-After"] == "900"
    assert "_auth_user_id" not in response.client.session


def test_nine_failures_still_let_the_right_password_in(user: User) -> None:
    fail(9, user.username)
    assert signed_in_as(sign_in(user.username, PASSWORD), user)


def test_ten_failures_of_one_username_from_one_ip_refuse_even_the_right_password(user: User) -> None:
    fail(10, user.username)
    refused = sign_in(user.username, PASSWORD)
    assert_refused(refused)
    # The page says until when, in the server's time zone, and the page itself is the sign-in card.
    text = refused.content.decode()
    assert "UTC" in text and "<h1>Sign in</h1>" in text and 'role="alert"' in text


def test_the_tenth_failure_already_answers_with_the_lockout_page(user: User) -> None:
    fail(9, user.username)
    assert_refused(sign_in(user.username, "wrong password"))


def test_another_ip_can_still_sign_in_as_the_locked_user(user: User) -> None:
    fail(10, user.username)
    assert_refused(sign_in(user.username, PASSWORD))
    assert signed_in_as(sign_in(user.username, PASSWORD, ip=NEIGHBOUR), user)


def test_the_locked_ip_can_still_sign_in_as_another_user(user: User) -> None:
    other = UserFactory.create(username="bob")
    fail(10, user.username)
    assert signed_in_as(sign_in(other.username, PASSWORD), other)


def test_fifty_failures_from_one_ip_across_usernames_lock_that_ip(user: User) -> None:
    # Fewer than 10 per username, so only the per-IP rule can lock.
    for n in range(49):
        fail(1, f"guess{n % 7}")
    assert signed_in_as(sign_in(user.username, PASSWORD), user)  # 49 failures: still open
    fail(1, "guess-last")
    assert_refused(sign_in(user.username, PASSWORD))
    assert_refused(sign_in("anyone-else", PASSWORD))
    assert signed_in_as(sign_in(user.username, PASSWORD, ip=NEIGHBOUR), user)


def test_failures_older_than_the_cool_off_are_forgotten(user: User) -> None:
    fail(10, user.username)
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))
    assert signed_in_as(sign_in(user.username, PASSWORD), user)


def test_a_refused_attempt_restarts_the_cool_off(user: User) -> None:
    fail(10, user.username)
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=14))
    assert_refused(sign_in(user.username, PASSWORD))
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=14))
    assert_refused(sign_in(user.username, PASSWORD))


def test_admin_login_failures_count_and_the_admin_login_is_refused_alike(user: User) -> None:
    user.is_staff = True
    user.save()
    admin_login = reverse("admin:login")
    fail(10, user.username, path=admin_login)
    assert_refused(sign_in(user.username, PASSWORD, path=admin_login))
    assert_refused(sign_in(user.username, PASSWORD))
    assert signed_in_as(sign_in(user.username, PASSWORD, ip=NEIGHBOUR, path=admin_login), user)


def test_api_keys_are_not_throttled_by_the_login_lockout(user: User, organization: Organization) -> None:
    fail(50, user.username)
    assert_refused(sign_in(user.username, PASSWORD))
    _, key = api_key_create(organization=organization, name="ci", scopes=list(ApiKey.SCOPES))
    api = Client(REMOTE_ADDR=ATTACKER, HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api.get("/api/v1/products/").status_code == 200
    # A wrong key is the API's 401, not the lockout page, and it adds no login failure.
    attempts = AccessAttempt.objects.count()
    bad = Client(REMOTE_ADDR=ATTACKER, HTTP_AUTHORIZATION="Api-Key mp_wrong").get("/api/v1/products/")
    assert bad.status_code == 401
    assert AccessAttempt.objects.count() == attempts


def test_limits_and_cool_off_come_from_the_environment(tmp_path: Path) -> None:
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.LOGIN_THROTTLE_RULES, settings.AXES_LOCKOUT_PARAMETERS, settings.AXES_COOLOFF_TIME)"
    )
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "planner.settings.base",
        "DATA_DIR": str(tmp_path),
        "LOGIN_THROTTLE_USER_IP_FAILURES": "5",
        "LOGIN_THROTTLE_IP_FAILURES": "200",
        "LOGIN_THROTTLE_COOLOFF_MINUTES": "60",
    }
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (
        "[(['username', 'ip_address'], 5), (['ip_address'], 200)] "
        "[['username', 'ip_address'], ['ip_address']] 1:00:00"
    )
    bad = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env | {"LOGIN_THROTTLE_IP_FAILURES": "0"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "LOGIN_THROTTLE_IP_FAILURES must be a whole number of at least 1, got '0'" in bad.stderr
