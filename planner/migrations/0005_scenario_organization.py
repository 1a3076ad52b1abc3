"""Scenario.organization: a copy of product.organization, so the API's scenario list and
tenant scoping filter one table (as SimulationRun.organization does)."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_organization(apps, schema_editor):  # type: ignore[no-untyped-def]
    Scenario = apps.get_model("planner", "Scenario")
    Product = apps.get_model("planner", "Product")
    Scenario.objects.update(
        organization_id=Subquery(Product.objects.filter(pk=OuterRef("product_id")).values("organization_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [("planner", "0004_alerts")]

    operations = [
        migrations.AddField(
            model_name="scenario",
            name="organization",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="planner.organization",
            ),
        ),
        migrations.RunPython(fill_organization, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="scenario",
            name="organization",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="planner.organization",
            ),
        ),
        migrations.AddIndex(
            model_name="scenario",
            index=models.Index(fields=["organization", "name", "id"], name="planner_scenario_org_name"),
        ),
    ]
