"""factory-boy factories for rows that tests need but do not care about.

Call ``XFactory.create(...)`` (typed) rather than ``XFactory(...)``. Domain objects with rules
(products, tiers, workloads, scenarios) are built through the services in tests/conftest.py,
so tests exercise the same validation as the app.
"""

from __future__ import annotations

import factory
from django.contrib.auth.models import User

from planner.accounts.models import Membership, Organization
from pricing.models import AIModel, Provider


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"organisation-{n}")


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.OWNER


class ProviderFactory(factory.django.DjangoModelFactory[Provider]):
    class Meta:
        model = Provider
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"provider-{n}")
    name = factory.LazyAttribute(lambda provider: provider.slug.title())


class AIModelFactory(factory.django.DjangoModelFactory[AIModel]):
    class Meta:
        model = AIModel
        django_get_or_create = ("provider", "slug")

    provider = factory.SubFactory(ProviderFactory)
    slug = factory.Sequence(lambda n: f"model-{n}")
    name = factory.LazyAttribute(lambda model: model.slug)
