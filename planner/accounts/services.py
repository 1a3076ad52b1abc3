"""Accounts: sign-up (a user and their organisation) and organisation members.

No mail is sent: inviting someone who has no account creates it with a one-time password that
the inviting owner passes on; the password is returned once and never stored in plain text.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from planner.accounts.models import Membership, Organization

#: Length of the one-time passwords given to invited people (about 96 bits).
ONE_TIME_PASSWORD_BYTES = 12


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "organisation"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def organization_signup(
    *,
    username: str,
    email: str,
    password: str,
    organization_name: str,
    currency: str = "USD",
    time_zone: str = "UTC",
) -> tuple[AbstractBaseUser, Organization]:
    """Create a user, their organisation (``currency``, ``time_zone``) and make them its owner.

    Field errors are raised as one ``ValidationError`` keyed by field name; nothing is written.
    """
    user_model = get_user_model()
    errors: dict[str, list[str]] = {}
    if user_model._default_manager.filter(username__iexact=username).exists():
        errors["username"] = ["This username is taken."]
    user = user_model(username=username, email=email)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        errors["password"] = exc.messages
    organization = Organization(
        name=organization_name.strip(),
        slug=_unique_slug(organization_name),
        currency=currency.upper(),
        time_zone=time_zone,
    )
    try:
        organization.full_clean()
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors["organization_name" if field in ("name", "slug") else field] = messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        user.set_password(password)
        user.save()
        organization.save()
        Membership.objects.create(user=user, organization=organization, role=Membership.Role.OWNER)
    return user, organization


def member_invite(
    *, organization: Organization, identifier: str, role: str, email: str = ""
) -> tuple[Membership, str | None]:
    """Add the user known by ``identifier`` (username or e-mail) to ``organization`` with ``role``.

    An unknown username creates the account with a random one-time password, returned as the
    second element (``None`` when the user existed): show it once to the inviting owner.
    """
    identifier = identifier.strip()
    if role not in Membership.Role.values:
        raise ValidationError({"role": "Choose owner, editor or viewer."})
    if not identifier:
        raise ValidationError({"identifier": "Enter a username or an e-mail address."})
    user_model = get_user_model()
    existing = user_model._default_manager.filter(
        Q(username__iexact=identifier) | Q(email__iexact=identifier)
    ).first()
    password: str | None = None
    with transaction.atomic():
        if existing is None:
            if "@" in identifier:
                username = identifier.split("@", 1)[0]
                email = email or identifier
            else:
                username = identifier
            if user_model._default_manager.filter(username__iexact=username).exists():
                raise ValidationError(
                    {"identifier": f"The username {username!r} is taken; invite them by it."}
                )
            user = user_model(username=username, email=email)
            try:
                user.full_clean(exclude=["password"])
            except ValidationError as exc:
                raise ValidationError({"identifier": exc.messages}) from exc
            password = secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)
            user.set_password(password)
            user.save()
        else:
            user = existing
            if Membership.objects.filter(user=user, organization=organization).exists():
                raise ValidationError({"identifier": f"{user.get_username()} is already a member."})
        membership = Membership.objects.create(user=user, organization=organization, role=role)
    return membership, password


def membership_role_set(*, membership: Membership, role: str) -> Membership:
    """Change a member's role; an organisation always keeps at least one owner."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": "Choose owner, editor or viewer."})
    with transaction.atomic():
        if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
            _keep_an_owner(membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def membership_remove(*, membership: Membership) -> None:
    """Remove a member; the last owner cannot be removed."""
    with transaction.atomic():
        if membership.role == Membership.Role.OWNER:
            _keep_an_owner(membership)
        membership.delete()


def _keep_an_owner(membership: Membership) -> None:
    owners = (
        Membership.objects.select_for_update()
        .filter(organization_id=membership.organization_id, role=Membership.Role.OWNER)
        .exclude(pk=membership.pk)
    )
    if not owners.exists():
        raise ValidationError({"role": "An organisation needs at least one owner."})
