"""The billing vendors whose SDKs may send usage to Margin Planner's compatibility endpoints."""

from __future__ import annotations

from django.db import models


class Vendor(models.TextChoices):
    OPENMETER = "openmeter", "OpenMeter"
    LAGO = "lago", "Lago"
    STRIPE = "stripe", "Stripe"
    METRONOME = "metronome", "Metronome"
    ORB = "orb", "Orb"


#: The line a user changes in code that already runs the vendor's SDK (``{base}`` is this
#: server's address, ``KEY`` a Margin Planner API key with the ingest scope).
SDK_LINES: dict[str, str] = {
    Vendor.OPENMETER: 'client = Client(endpoint="{base}/compat/openmeter", token=KEY)',
    Vendor.LAGO: 'client = Client(api_key=KEY, api_url="{base}/compat/lago/")',
    Vendor.STRIPE: 'stripe.api_base = "{base}/compat/stripe"',
    Vendor.METRONOME: 'client = Metronome(bearer_token=KEY, base_url="{base}/compat/metronome")',
    Vendor.ORB: 'client = Orb(api_key=KEY, base_url="{base}/compat/orb")',
}
#: The package whose client the line configures.
SDK_PACKAGES: dict[str, str] = {
    Vendor.OPENMETER: "openmeter",
    Vendor.LAGO: "lago-python-client",
    Vendor.STRIPE: "stripe",
    Vendor.METRONOME: "metronome-sdk",
    Vendor.ORB: "orb-billing",
}
