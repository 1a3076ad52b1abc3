"""Every scenario gets its own plan (data; the schema is 0008).

A migration of its own, so that on PostgreSQL the rows it writes are committed before the next
schema change (a table with pending trigger events cannot be altered in the same transaction).
"""

from django.db import migrations

#: The tier's own fields, copied into each scenario's plan (every field but the keys).
TIER_COPIED = (
    "name",
    "position",
    "monthly_fee",
    "seat_fee",
    "seats",
    "annual_price",
    "included_credits",
    "overage_price_per_credit",
    "hard_cap_credits",
    "payment_fee_pct",
    "payment_fee_fixed",
    "subscribers",
    "churn_monthly",
)
USAGE_COPIED = (
    "kind",
    "median",
    "p90",
    "mean",
    "shape",
    "scale",
    "alpha",
    "upper",
    "values",
    "overdispersion",
)


def plans_from_product(apps, schema_editor):
    """Give every scenario its own plan: copies of its product's tiers (which stay, with their
    ids, as the live plan) and their usage, each copy standing for its original. Scenario-scope
    alert rules naming a tier are re-pointed to their scenario's copy of it."""
    Scenario = apps.get_model("planner", "Scenario")
    Tier = apps.get_model("planner", "Tier")
    UsageDistribution = apps.get_model("planner", "UsageDistribution")
    AlertRule = apps.get_model("planner", "AlertRule")
    for scenario in Scenario.objects.order_by("pk").iterator():
        live = list(Tier.objects.filter(product_id=scenario.product_id, scenario__isnull=True).order_by("pk"))
        copies = Tier.objects.bulk_create(
            [
                Tier(
                    product_id=scenario.product_id,
                    scenario_id=scenario.pk,
                    live_tier_id=tier.pk,
                    **{name: getattr(tier, name) for name in TIER_COPIED},
                )
                for tier in live
            ]
        )
        copy_of = {tier.pk: copy.pk for tier, copy in zip(live, copies, strict=True)}
        UsageDistribution.objects.bulk_create(
            [
                UsageDistribution(
                    tier_id=copy_of[usage.tier_id],
                    workload_id=usage.workload_id,
                    **{name: getattr(usage, name) for name in USAGE_COPIED},
                )
                for usage in UsageDistribution.objects.filter(tier_id__in=copy_of).order_by("pk")
            ]
        )
        for rule in AlertRule.objects.filter(scenario_id=scenario.pk, scope="scenario", tier_id__in=copy_of):
            rule.tier_id = copy_of[rule.tier_id]
            rule.save(update_fields=["tier"])


def plans_to_product(apps, schema_editor):
    """Back to one plan per product: scenario-scope rules name the live tier their scenario's
    tier stands for (or the live tier of that name; none when there is neither), and the scenario
    tiers go. Edits made to scenario plans are lost: there is nowhere to keep them."""
    Tier = apps.get_model("planner", "Tier")
    AlertRule = apps.get_model("planner", "AlertRule")
    for rule in AlertRule.objects.filter(tier__scenario__isnull=False).select_related("tier"):
        tier = rule.tier
        live = tier.live_tier_id or (
            Tier.objects.filter(product_id=tier.product_id, scenario__isnull=True, name=tier.name)
            .values_list("pk", flat=True)
            .first()
        )
        rule.tier_id = live
        rule.save(update_fields=["tier"])
    Tier.objects.filter(scenario__isnull=False).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("planner", "0008_scenario_plans"),
    ]

    operations = [
        migrations.RunPython(plans_from_product, plans_to_product),
    ]
