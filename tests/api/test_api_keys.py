"""API keys: the command prints the key last and it works; keys are stored hashed; revoked and
malformed keys are refused; last use is recorded at most once a minute."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from planner.accounts.api_keys import api_key_create, api_key_revoke, api_key_verify
from planner.accounts.models import ApiKey, Organization
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db


def test_create_api_key_prints_the_key_last_and_it_works(organization: Organization) -> None:
    out = io.StringIO()
    call_command("create_api_key", "--org", "acme-ai", "--name", "billing", "--scope", "read", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    stored = ApiKey.objects.get()
    assert stored.scopes == ["read"] and key.startswith(stored.prefix) and key not in stored.hashed_key
    assert client_for(key).get("/api/v1/products/").status_code == 200
    assert client_for(key).post("/api/v1/products/", {"name": "x"}, format="json").status_code == 403


def test_create_api_key_refuses_unknown_organisation(db: None) -> None:
    with pytest.raises(CommandError, match="No organisation"):
        call_command("create_api_key", "--org", "nope", "--name", "x", stdout=io.StringIO())


@pytest.mark.parametrize(
    "header", ["Api-Key", "Api-Key a b", "Api-Key mp_wrong", "Api-Key " + "mp_" + "x" * 500]
)
def test_bad_keys_are_401(db: None, header: str) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/products/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Api-Key"


def test_revoked_key_and_last_used(organization: Organization) -> None:
    api_key, plain = api_key_create(organization=organization, name="k", scopes=["read"])
    now = timezone.now()
    assert api_key_verify(key=plain, now=now) is not None
    assert ApiKey.objects.get().last_used_at == now
    api_key_verify(key=plain, now=now + dt.timedelta(seconds=30))
    assert ApiKey.objects.get().last_used_at == now
    api_key_verify(key=plain, now=now + dt.timedelta(seconds=61))
    assert ApiKey.objects.get().last_used_at == now + dt.timedelta(seconds=61)
    api_key_revoke(api_key=api_key)
    assert api_key_verify(key=plain) is None


def test_scopes_are_validated(organization: Organization) -> None:
    from django.core.exceptions import ValidationError

    for scopes in ([], ["admin"], ["read", "read"]):
        with pytest.raises(ValidationError):
            api_key_create(organization=organization, name="k", scopes=scopes)
