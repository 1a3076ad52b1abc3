"""The customer-month journal (planner.actuals.rollup): PostgreSQL only, a plain table with no
key, index or foreign key (the cheapest append; it is read only whole per organisation by the
fold, which drops rows of customers deleted meanwhile). SQLite has no journal: its ingest upserts
the rollup itself."""

from django.db import migrations

CREATE = """
CREATE TABLE IF NOT EXISTS planner_customermonth_journal (
    organization_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    period date NOT NULL,
    requests bigint NOT NULL,
    credits numeric(18, 6) NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cached_tokens bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    reasoning_tokens bigint NOT NULL,
    cost numeric(20, 10) NOT NULL
)
"""


def journal_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def journal_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TABLE IF EXISTS planner_customermonth_journal")


class Migration(migrations.Migration):
    dependencies = [
        ("planner", "0018_billing_compat"),
    ]

    operations = [migrations.RunPython(journal_create, journal_drop)]
