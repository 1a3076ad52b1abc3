"""Organisations, their members and API keys."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from planner.core.models import PlannerModel, one_of_constraint, unique_constraint
from planner.core.validators import validate_currency_code, validate_time_zone


class Organization(PlannerModel):
    """A customer of Margin Planner (a tenant). Everything else is scoped to one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[validate_currency_code],
        help_text="ISO 4217 code of the currency all money amounts are in.",
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone; billing periods and alert windows follow it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(PlannerModel):
    """A user's role in an organisation."""

    class Role(models.TextChoices):
        OWNER = "owner"
        EDITOR = "editor"
        VIEWER = "viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            unique_constraint("membership", ["user", "organization"]),
            one_of_constraint("membership", "role", ["owner", "editor", "viewer"]),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


# --- API keys -------------------------------------------------------------------------------


class ApiKey(PlannerModel):
    """A machine credential of one organisation for the REST API.

    The key a client sends is ``prefix + secret`` (see ``planner.accounts.api_keys``). Only the
    ``prefix`` (its first 8 characters, shown in lists to tell keys apart) and the SHA-256 of the
    whole key are stored: the plain key is shown once, at creation. A fast hash is right here
    because the key is 256 bits of randomness, not a password: there is nothing to brute-force.
    ``scopes`` is a subset of ``SCOPES``; a revoked key (``revoked_at`` set) never authenticates.
    """

    SCOPE_READ = "read"
    SCOPE_WRITE = "write"
    SCOPE_INGEST = "ingest"
    SCOPES = (SCOPE_READ, SCOPE_WRITE, SCOPE_INGEST)
    PREFIX_LENGTH = 8

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True)
    hashed_key = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the full key, hex.")
    scopes = models.JSONField(default=list, help_text='Subset of ["read", "write", "ingest"].')
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organization", "-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def clean(self) -> None:
        scopes = self.scopes
        if (
            not isinstance(scopes, list)
            or not scopes
            or not all(isinstance(s, str) and s in self.SCOPES for s in scopes)
        ):
            raise ValidationError({"scopes": f"Choose one or more of {', '.join(self.SCOPES)}."})
        if len(set(scopes)) != len(scopes):
            raise ValidationError({"scopes": "Each scope may be given once."})


# --- Idempotency keys -----------------------------------------------------------------------


class IdempotencyKey(PlannerModel):
    """A client's ``Idempotency-Key`` for one request that started a job, with the response it got.

    One row per ``(organization, key)``: the unique constraint is what lets two simultaneous
    requests with the same key start exactly one job (``planner.accounts.idempotency``). The row
    is inserted before the job starts, in the same transaction, and the response is filled in
    before that transaction commits, so a committed row always has one. Kept 24 hours.
    """

    MAX_LENGTH = 255

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=MAX_LENGTH)
    request_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the request (method, path, body), hex."
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The response body as sent (JSON text).")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [unique_constraint("idempotencykey", ["organization", "key"])]
        verbose_name = "idempotency key"

    def __str__(self) -> str:
        return f"{self.key} ({self.organization_id})"
