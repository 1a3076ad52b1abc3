"""Web forms of an alert rule and an alert channel. They parse input only; the services
(``planner.alerts.rules``, ``planner.alerts.channels``) validate."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from planner.accounts.models import Organization
from planner.alerts.channels import url_masked
from planner.alerts.models import MAX_CHANNEL_URL_LENGTH, AlertChannel, AlertRule
from planner.alerts.rules import PERCENT_METRICS, cron_expression
from planner.alerts.selectors import alert_channels_for_organization
from planner.core.formatting import currency_symbol, decimal_plain
from planner.products.models import Tier
from planner.simulation.models import Scenario


class TierChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        plan = "live plan" if obj.scenario is None else f"scenario {obj.scenario.name}"
        return f"{obj.product.name} / {plan} / {obj.name}"


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=200)
    scope = forms.ChoiceField(choices=AlertRule.Scope.choices)
    scenario = forms.ModelChoiceField(
        queryset=Scenario.objects.none(), required=False, help_text="For the scenario scope: its latest run."
    )
    metric = forms.ChoiceField(choices=AlertRule.Metric.choices)
    tier = TierChoiceField(queryset=Tier.objects.none(), required=False, empty_label="All tiers")
    comparator = forms.ChoiceField(choices=AlertRule.Comparator.choices)
    threshold = forms.DecimalField(
        max_digits=16, decimal_places=4, help_text="Percent for % metrics (40 = 40%), money otherwise."
    )
    schedule = forms.ChoiceField(choices=AlertRule.Schedule.choices)
    cron = forms.CharField(
        required=False,
        max_length=100,
        help_text="For the cron schedule: minute hour day-of-month month day-of-week (e.g. 0 8 * * 1).",
    )
    recipients = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One address a line. A rule needs recipients, channels or both.",
    )
    channels = forms.ModelMultipleChoiceField(
        queryset=AlertChannel.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Slack and webhook channels (Alerts › Channels).",
    )
    digest = forms.BooleanField(
        required=False, help_text="One mail (and one Slack message) per window with every breach."
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        """The metrics read with their unit ("(%)" or the currency), as the threshold is typed."""
        super().__init__(*args, **kwargs)
        symbol = currency_symbol(organization.currency)
        metric = self.fields["metric"]
        assert isinstance(metric, forms.ChoiceField)
        metric.choices = [
            (value, f"{label.removesuffix(' %')} ({'%' if value in PERCENT_METRICS else symbol})")
            for value, label in AlertRule.Metric.choices
        ]
        self.fields["threshold"].help_text = (
            f"In percent for the % metrics (12.5 = 12.5%); in {organization.currency} ({symbol}) "
            "for money metrics."
        )
        scenario = self.fields["scenario"]
        tier = self.fields["tier"]
        channels = self.fields["channels"]
        assert isinstance(scenario, forms.ModelChoiceField) and isinstance(tier, forms.ModelChoiceField)
        assert isinstance(channels, forms.ModelMultipleChoiceField)
        channels.queryset = alert_channels_for_organization(organization=organization).order_by("name")
        scenario.queryset = Scenario.objects.filter(product__organization=organization).select_related(
            "product"
        )
        tier.queryset = (
            Tier.objects.filter(product__organization=organization)
            .select_related("product", "scenario")
            .order_by("product__name", "scenario__name", "position", "id")
        )

    def clean_recipients(self) -> list[str]:
        return [r for r in re.split(r"[\s,;]+", self.cleaned_data["recipients"]) if r]

    def clean_channels(self) -> list[AlertChannel]:
        return list(self.cleaned_data["channels"])

    @staticmethod
    def initial_for(rule: AlertRule) -> dict[str, Any]:
        return {
            "name": rule.name,
            "scope": rule.scope,
            "scenario": rule.scenario_id,
            "metric": rule.metric,
            "tier": rule.tier_id,
            "comparator": rule.comparator,
            "threshold": decimal_plain(rule.threshold),
            "schedule": rule.schedule,
            "cron": cron_expression(rule.crontab),
            "recipients": "\n".join(rule.recipients),
            "channels": [channel.pk for channel in rule.channels.all()],
            "digest": rule.digest,
            "enabled": rule.enabled,
        }


class AlertChannelForm(forms.Form):
    """A new channel, or changes to one (``channel``): its kind is fixed then, and an empty URL
    keeps the current one, which is never shown whole."""

    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=AlertChannel.Kind.choices)
    url = forms.CharField(
        label="URL",
        max_length=MAX_CHANNEL_URL_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Slack: the incoming webhook's https://hooks.slack.com/services/... URL. Webhook: "
        "your https:// endpoint; each delivery is signed (docs: alerts).",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, channel: AlertChannel | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if channel is not None:
            self.fields["kind"].disabled = True
            self.fields["url"].required = False
            self.fields["url"].help_text = f"Now {url_masked(channel.url)}. Leave empty to keep it."

    @staticmethod
    def initial_for(channel: AlertChannel) -> dict[str, Any]:
        return {"name": channel.name, "kind": channel.kind, "url": "", "enabled": channel.enabled}
