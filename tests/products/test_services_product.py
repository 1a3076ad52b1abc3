"""Product services: creation with validation, model mix as a whole, usage upserts, and the
correlation matrix (defaults, stored pairs, positive semi-definiteness)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from planner.accounts.models import Organization
from planner.products.correlations import correlation_matrix, correlation_set, correlations_set
from planner.products.models import Product, UsageDistribution, Workload, WorkloadCorrelation, WorkloadModel
from planner.products.selectors import live_tiers
from planner.products.services import (
    ModelShare,
    product_create,
    product_update,
    tier_create,
    tier_update,
    usage_distribution_set,
    workload_create,
    workload_models_set,
)
from pricing.models import AIModel

pytestmark = pytest.mark.django_db


def chat_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "Chat",
        "credits_per_request": 1.0,
        "input_tokens_median": 800.0,
        "input_tokens_p90": 3_000.0,
        "output_tokens_median": 300.0,
        "output_tokens_p90": 1_200.0,
    }
    return fields | overrides


def test_product_create_rejects_duplicate_name_in_organisation(organization: Organization) -> None:
    product_create(organization=organization, name="Copilot")
    with pytest.raises(ValidationError, match="already exists"):
        product_create(organization=organization, name="Copilot")


def test_product_create_rejects_default_correlation_out_of_range(organization: Organization) -> None:
    with pytest.raises(ValidationError) as caught:
        product_create(organization=organization, name="Copilot", default_correlation=1.2)
    assert "default_correlation" in caught.value.message_dict


def test_tier_create_positions_tiers_in_order_and_validates(organization: Organization) -> None:
    product = product_create(organization=organization, name="Copilot")
    first = tier_create(product=product, name="Free")
    second = tier_create(product=product, name="Pro", monthly_fee=Decimal("20"))
    assert (first.position, second.position) == (0, 1)
    with pytest.raises(ValidationError) as caught:
        tier_create(product=product, name="Bad", monthly_fee=Decimal("-5"), churn_monthly=2.0)
    assert {"monthly_fee", "churn_monthly"} <= set(caught.value.message_dict)
    assert live_tiers(product).count() == 2


def test_workload_create_stores_model_mix(organization: Organization, ai_models: dict[str, AIModel]) -> None:
    product = product_create(organization=organization, name="Copilot")
    workload = workload_create(
        product=product,
        **chat_fields(),
        models=[ModelShare(ai_models["small"], 0.7), (ai_models["frontier"], 0.3)],
    )
    mix = {row.model.slug: row.share for row in workload.model_mix.all() if row.model is not None}
    assert mix == {"gpt-4o-mini": 0.7, "gpt-4o": 0.3}


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ([0.7, 0.2], "sum to 1"),
        ([0.7, 0.4], "sum to 1"),
        ([], "at least one model"),
        ([1.2, -0.2], "above 0 and at most 1"),
        ([float("nan"), 1.0], "above 0 and at most 1"),
    ],
)
def test_workload_create_rejects_bad_model_mix_and_saves_nothing(
    organization: Organization, ai_models: dict[str, AIModel], shares: list[float], message: str
) -> None:
    product = product_create(organization=organization, name="Copilot")
    models = [(ai_models[key], share) for key, share in zip(["small", "frontier"], shares, strict=False)]
    with pytest.raises(ValidationError) as caught:
        workload_create(product=product, **chat_fields(), models=models)
    assert message in " ".join(caught.value.message_dict["models"])
    assert not Workload.objects.exists()


def test_workload_create_reports_workload_and_mix_errors_together(
    organization: Organization, ai_models: dict[str, AIModel]
) -> None:
    product = product_create(organization=organization, name="Copilot")
    with pytest.raises(ValidationError) as caught:
        workload_create(
            product=product, **chat_fields(input_tokens_p90=10.0), models=[(ai_models["small"], 0.5)]
        )
    assert {"input_tokens_p90", "models"} <= set(caught.value.message_dict)


def test_model_mix_rejects_duplicates_and_reasoning_without_distribution(
    organization: Organization, ai_models: dict[str, AIModel]
) -> None:
    product = product_create(organization=organization, name="Copilot")
    with pytest.raises(ValidationError) as caught:
        workload_create(
            product=product,
            **chat_fields(),
            models=[
                (ai_models["small"], 0.5),
                (ai_models["small"], 0.3),
                (ai_models["reasoning"], 0.2, "", True),
            ],
        )
    messages = " ".join(caught.value.message_dict["models"])
    assert "appears twice" in messages
    assert "no reasoning-token distribution" in messages


def test_workload_models_set_replaces_the_mix(product: Product, ai_models: dict[str, AIModel]) -> None:
    chat = product.workloads.get(name="Chat")
    workload_models_set(workload=chat, models=[(ai_models["frontier"], 1.0)])
    assert list(chat.model_mix.values_list("model__slug", "share")) == [("gpt-4o", 1.0)]
    with pytest.raises(ValidationError):
        workload_models_set(workload=chat, models=[(ai_models["frontier"], 0.5)])
    assert WorkloadModel.objects.filter(workload=chat).count() == 1


def test_usage_distribution_set_upserts_the_pair(product: Product) -> None:
    pro, chat = live_tiers(product).get(name="Pro"), product.workloads.get(name="Chat")
    usage_distribution_set(tier=pro, workload=chat, kind="gamma", mean=12.0, shape=0.8, overdispersion=3.0)
    row = UsageDistribution.objects.get(tier=pro, workload=chat)
    assert (row.kind, row.mean, row.shape, row.overdispersion) == ("gamma", 12.0, 0.8, 3.0)
    with pytest.raises(ValidationError) as caught:
        usage_distribution_set(tier=pro, workload=chat, kind="pareto", scale=1.0, alpha=1.5)
    assert "alpha" in caught.value.message_dict
    assert UsageDistribution.objects.get(tier=pro, workload=chat).kind == "gamma"


def test_correlation_matrix_uses_default_and_stored_pairs(product: Product) -> None:
    chat, agent = product.workloads.get(name="Chat"), product.workloads.get(name="Agent")
    keys, matrix = correlation_matrix(product=product)
    assert keys == [chat.pk, agent.pk]
    np.testing.assert_array_equal(matrix, [[1.0, 0.8], [0.8, 1.0]])
    correlation_set(product=product, workload_a=agent, workload_b=chat, rho=0.3)
    stored = WorkloadCorrelation.objects.get()
    assert (stored.workload_a_id, stored.workload_b_id) == (min(chat.pk, agent.pk), max(chat.pk, agent.pk))
    _, matrix = correlation_matrix(product=product)
    np.testing.assert_array_equal(matrix, [[1.0, 0.3], [0.3, 1.0]])


def add_workload(product: Product, name: str, model: AIModel) -> Workload:
    return workload_create(product=product, **chat_fields(name=name), models=[(model, 1.0)])


def test_correlation_set_refuses_a_non_psd_matrix_and_names_the_pairs(
    product: Product, ai_models: dict[str, AIModel]
) -> None:
    chat, agent = product.workloads.get(name="Chat"), product.workloads.get(name="Agent")
    docs = add_workload(product, "Docs", ai_models["frontier"])
    correlation_set(product=product, workload_a=chat, workload_b=agent, rho=0.9)
    correlation_set(product=product, workload_a=chat, workload_b=docs, rho=0.9)
    with pytest.raises(ValidationError) as caught:
        correlation_set(product=product, workload_a=agent, workload_b=docs, rho=-0.9)
    message = caught.value.message_dict["rho"][0]
    assert "positive semi-definite" in message
    for pair in ("Chat ~ Agent (0.9)", "Chat ~ Docs (0.9)", "Agent ~ Docs (-0.9)"):
        assert pair in message
    assert WorkloadCorrelation.objects.count() == 2


def test_correlations_set_applies_default_and_pairs_together_or_not_at_all(
    product: Product, ai_models: dict[str, AIModel]
) -> None:
    chat, agent = product.workloads.get(name="Chat"), product.workloads.get(name="Agent")
    docs = add_workload(product, "Docs", ai_models["frontier"])
    correlations_set(product=product, default_correlation=0.8, pairs={(chat, agent): 0.9, (chat, docs): 0.9})
    assert WorkloadCorrelation.objects.count() == 2
    # Agent ~ Docs at -0.9 conflicts: nothing changes, the default included.
    with pytest.raises(ValidationError) as caught:
        correlations_set(product=product, default_correlation=0.5, pairs={(agent, docs): -0.9})
    assert "Agent ~ Docs (-0.9)" in caught.value.message_dict["rho"][0]
    product.refresh_from_db()
    assert product.default_correlation == 0.8 and WorkloadCorrelation.objects.count() == 2
    # Emptying pairs makes them follow the default again (their rows are removed), in the same
    # change as a default that the old pairs would refuse.
    with pytest.raises(ValidationError):
        product_update(product=product, data={"default_correlation": -0.4})
    cleared = {(chat, agent): None, (agent, chat): None, (chat, docs): None}
    correlations_set(product=product, default_correlation=-0.4, pairs=cleared)
    assert not WorkloadCorrelation.objects.exists()
    _, matrix = correlation_matrix(product=product)
    np.testing.assert_array_equal(matrix, [[1.0, -0.4, -0.4], [-0.4, 1.0, -0.4], [-0.4, -0.4, 1.0]])


def test_correlation_matrix_refuses_an_impossible_default(
    organization: Organization, ai_models: dict[str, AIModel]
) -> None:
    product = product_create(organization=organization, name="Three", default_correlation=-0.6)
    for name in ("A", "B", "C"):
        add_workload(product, name, ai_models["small"])
    with pytest.raises(ValidationError) as caught:
        correlation_matrix(product=product)
    assert "A ~ B (-0.6)" in caught.value.message_dict["correlation"][0]


def test_correlation_matrix_accepts_boundary_matrices(
    organization: Organization, ai_models: dict[str, AIModel]
) -> None:
    """All pairs at 1 is singular but valid: round-off must not reject it."""
    product = product_create(organization=organization, name="Ones", default_correlation=1.0)
    for name in ("A", "B", "C", "D"):
        add_workload(product, name, ai_models["small"])
    keys, matrix = correlation_matrix(product=product)
    assert len(keys) == 4
    assert np.all(matrix == 1.0)
    empty = product_create(organization=organization, name="Empty")
    assert correlation_matrix(product=empty)[0] == []


def test_integer_and_usage_bounds_are_field_errors_on_every_database(product: Product) -> None:
    """2**31 subscribers or seats broke PostgreSQL's integer range as a database error on
    SQLite (a 500 from the web form); empirical values had no upper bound."""
    pro = live_tiers(product).get(name="Pro")
    with pytest.raises(ValidationError) as caught:
        tier_update(tier=pro, data={"subscribers": 2**31})
    assert "subscribers" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        tier_update(tier=pro, data={"monthly_fee": Decimal(0), "seat_fee": Decimal(5), "seats": 2**31})
    assert "seats" in caught.value.message_dict
    chat = product.workloads.get(name="Chat")
    with pytest.raises(ValidationError) as caught:
        usage_distribution_set(tier=pro, workload=chat, kind="empirical", values=[1e308, 1.0])
    assert "at most 1,000,000,000" in caught.value.message_dict["values"][0]
    assert live_tiers(product).get(name="Pro").subscribers == 300
