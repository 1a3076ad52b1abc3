"""Authentication for the API: ``Authorization: Api-Key <key>`` for machines.

A request authenticated by a key has ``request.auth`` = the :class:`planner.accounts.models.ApiKey` and
``request.user`` = an :class:`ApiKeyUser`: authenticated, but not a person. Keys belong to an
organisation, not to the user who created them, so a key keeps working when that person leaves
and never reaches the person's other organisations. Session auth (with CSRF) is configured next
to this class in ``REST_FRAMEWORK`` for the web.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from planner.accounts.api_keys import api_key_verify
from planner.accounts.models import ApiKey

KEYWORD = "Api-Key"


class ApiKeyUser(AnonymousUser):
    """The caller behind an API key: authenticated, with no user row and no memberships."""

    def __init__(self, api_key: ApiKey) -> None:
        super().__init__()
        self.api_key = api_key

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>``. Other schemes are left to the next authenticator."""

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(f"Send the key as 'Authorization: {KEYWORD} <key>'.")
        return key_credentials(parts[1])

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


def key_credentials(key: bytes) -> tuple[ApiKeyUser, ApiKey]:
    """The caller and key of the API key ``key`` as sent in a header; raises
    ``AuthenticationFailed`` when it is not a valid, unrevoked key (every scheme that carries a
    Margin Planner API key: ``Api-Key`` here, ``Bearer`` on the billing vendors' endpoints)."""
    try:
        text = key.decode("ascii")
    except UnicodeDecodeError as error:
        raise exceptions.AuthenticationFailed("Invalid API key.") from error
    api_key = api_key_verify(key=text)
    if api_key is None:
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
    return ApiKeyUser(api_key), api_key
