"""``manage.py replay (--scenario ID | --live --product ID) --from YYYY-MM --to YYYY-MM
[--price-date YYYY-MM-DD | --price-sheet ID] [--json]``: re-rate past months of usage under a
scenario's plan or the live plan of a product (docs/ACTUALS.md "Replay"). Thin: parses, calls
``planner.actuals.replay.replay_period``, prints. (``--organization SLUG`` without either: the
organisation's whole live plan.)"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from planner.accounts.models import Organization
from planner.actuals.replay import replay_period
from planner.actuals.replay_stats import ReplayResult
from planner.prices.models import PriceSheet
from planner.products.models import Product
from planner.simulation.models import Scenario


def _month(value: str, flag: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError as exc:
        raise CommandError(f"{flag} must be a month, YYYY-MM (got {value!r}).") from exc


def _organization(slug: str | None, scenario: Scenario | None) -> Organization:
    if slug is not None:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            raise CommandError(f"--organization: no organisation {slug!r}.")
        return organization
    if scenario is not None:
        return scenario.product.organization
    organizations = list(Organization.objects.order_by("pk")[:2])
    if len(organizations) != 1:
        raise CommandError("--organization is required when there is not exactly one organisation.")
    return organizations[0]


class Command(BaseCommand):
    help = "Re-rate past months of actual usage under a scenario's plan (or the live plan)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="period_from", required=True, help="first month, YYYY-MM")
        parser.add_argument("--to", dest="period_to", required=True, help="last month, YYYY-MM")
        parser.add_argument("--scenario", type=int, help="scenario id: replay its plan")
        parser.add_argument("--live", action="store_true", help="replay the live plan (with --product)")
        parser.add_argument("--product", type=int, help="product id: its customers (with --live)")
        prices = parser.add_mutually_exclusive_group()
        prices.add_argument("--price-date", help="price every record at this date, YYYY-MM-DD")
        prices.add_argument("--price-sheet", type=int, help="price sheet id: its discounts on every record")
        parser.add_argument("--organization", help="organisation slug")
        parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
        parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        period_from = _month(options["period_from"], "--from")
        period_to = _month(options["period_to"], "--to")
        if period_to < period_from:
            raise CommandError("--to must not be before --from.")
        price_date = None
        if options["price_date"]:
            try:
                price_date = date.fromisoformat(options["price_date"])
            except ValueError as exc:
                raise CommandError("--price-date must be a date, YYYY-MM-DD.") from exc
        scenario = product = None
        if options["scenario"] is not None and options["live"]:
            raise CommandError("--scenario or --live, not both.")
        if options["live"] and options["product"] is None:
            raise CommandError("--live needs --product (the product whose live plan to replay).")
        if options["scenario"] is not None:
            scenario = Scenario.objects.select_related("product").filter(pk=options["scenario"]).first()
            if scenario is None:
                raise CommandError(f"--scenario: no scenario {options['scenario']}.")
        if options["product"] is not None:
            product = Product.objects.select_related("organization").filter(pk=options["product"]).first()
            if product is None:
                raise CommandError(f"--product: no product {options['product']}.")
        organization = (
            product.organization if product is not None else _organization(options["organization"], scenario)
        )
        sheet = None
        if options["price_sheet"] is not None:
            sheet = PriceSheet.objects.filter(pk=options["price_sheet"], organization=organization).first()
            if sheet is None:
                raise CommandError(
                    f"--price-sheet: no price sheet {options['price_sheet']} in {organization.slug}."
                )
        try:
            result = replay_period(
                organization=organization,
                scenario=scenario,
                period_from=period_from,
                period_to=period_to,
                price_date=price_date,
                price_sheet=sheet,
                bootstrap=options["bootstrap"],
                seed=options["seed"],
                product=product,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result.to_json()))
        else:
            self.stdout.write(_table(result))


def _interval(data: dict[str, Any]) -> str:
    if data["low"] is None:
        return str(data["reason"])
    return f"[{data['low']:,.2f}, {data['high']:,.2f}]"


def _table(result: ReplayResult) -> str:
    """A readable per-tier table with the total and the notes."""
    head = f"{'tier':<16}{'cust':>6}{'act rev':>12}{'rep rev':>12}{'act COGS':>12}{'rep COGS':>12}"
    head += f"{'act margin':>12}{'rep margin':>12}{'uw a/r':>8}{'flips':>7}  margin change 95%"
    lines = [head]
    for group in [*result.tiers, result.total]:
        data = group.to_json()
        actual, replayed = data["actual"], data["replayed"]
        lines.append(
            f"{group.tier_name[:15]:<16}{group.customers:>6}"
            f"{float(actual['revenue']):>12,.2f}{float(replayed['revenue']):>12,.2f}"
            f"{float(actual['cogs']):>12,.2f}{float(replayed['cogs']):>12,.2f}"
            f"{float(actual['margin']):>12,.2f}{float(replayed['margin']):>12,.2f}"
            f"{group.underwater_actual:>4}/{group.underwater_replayed:<3}"
            f"{group.became_underwater + group.stopped_underwater:>7}"
            f"  {_interval(data['margin_change_interval'])}"
        )
    lines.append(f"customers flipped: {result.flipped_customers}")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)
