"""Margin alerts: rules, channels (Slack, signed webhooks) and the delivery outbox
(docs/ALERTS.md)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

from planner.accounts.models import Organization
from planner.core.models import (
    TimestampedModel,
    between_constraint,
    decimal_field,
    one_of_constraint,
    unique_constraint,
)
from planner.products.models import Tier
from planner.simulation.models import Scenario

#: Largest absolute alert threshold (percentages and money alike).
MAX_ALERT_THRESHOLD = Decimal("999999999999.9999")  # max_digits=16, decimal_places=4
MAX_ALERT_RECIPIENTS = 50
MAX_CHANNEL_URL_LENGTH = 2000


class AlertChannel(TimestampedModel):
    """Where alerts go besides mail: a Slack incoming webhook or a generic webhook of one
    organisation.

    ``url`` is a secret (a Slack webhook URL is its own credential): it is written, never shown
    whole (``planner.alerts.channels.url_masked``). A webhook's signing secret is not stored:
    ``secret_seed`` is a random value from which the secret is derived with the server's
    ``SECRET_KEY`` (``planner.alerts.channels.alert_channel_secret``), so the database alone
    does not reveal it; it is shown once, when the channel is created or its secret rotated.
    Slack channels have no seed.
    """

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack (incoming webhook)"
        WEBHOOK = "webhook", "Webhook (signed JSON)"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alert_channels")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    url = models.CharField(max_length=MAX_CHANNEL_URL_LENGTH, help_text="A secret: never shown whole.")
    enabled = models.BooleanField(default=True, help_text="Disabled channels get no new alerts.")
    secret_seed = models.CharField(max_length=64, blank=True, help_text="Webhooks: the secret's seed.")

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            unique_constraint("alertchannel", ["organization", "name"], "name"),
            one_of_constraint("alertchannel", "kind", ["slack", "webhook"]),
            models.CheckConstraint(
                condition=Q(kind="slack", secret_seed="") | (Q(kind="webhook") & ~Q(secret_seed="")),
                name="planner_alertchannel_webhook_seed",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AlertRule(TimestampedModel):
    """A margin alert of one organisation: measure ``metric`` over ``scope`` on the rule's
    schedule and mail ``recipients`` when ``<metric> <comparator> <threshold>`` holds.

    ``crontab`` (a django-celery-beat ``CrontabSchedule`` in the organisation's time zone, owned
    by the rule and editable in the admin) says when the rule is due; ``schedule`` names the
    preset it was made from and sets the window key (a day, an ISO week, a month, or the cron
    tick; see ``planner.alerts.schedules``). ``last_tick_at`` is the schedule tick last evaluated:
    the sweep evaluates a rule when a later tick has passed. Percentages are in percent (40 =
    40 %), money in the organisation's currency.
    """

    class Scope(models.TextChoices):
        ACTUAL = "actual", "Actual usage, current period"
        SCENARIO = "scenario", "A scenario's latest run"

    class Metric(models.TextChoices):
        GROSS_MARGIN_PCT = "gross_margin_pct", "Gross margin %"
        UNDERWATER_SHARE = "underwater_share", "Share of underwater users/customers %"
        UNDERWATER_LOSS = "underwater_loss", "Monthly loss from underwater users"
        CUSTOMER_MARGIN = "customer_margin", "Lowest single customer's margin"
        COGS_P95 = "cogs_p95", "COGS per user p95"

    class Comparator(models.TextChoices):
        LT = "lt", "<"
        LTE = "lte", "<="
        GT = "gt", ">"
        GTE = "gte", ">="

    class Schedule(models.TextChoices):
        DAILY = "daily"
        WEEKLY = "weekly"
        MONTHLY = "monthly"
        CRON = "cron"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.ACTUAL)
    scenario = models.ForeignKey(
        Scenario, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules"
    )
    metric = models.CharField(max_length=20, choices=Metric.choices)
    tier = models.ForeignKey(
        Tier,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_rules",
        help_text="Only this tier; all paying tiers when empty.",
    )
    comparator = models.CharField(max_length=3, choices=Comparator.choices, default=Comparator.LT)
    threshold = decimal_field(
        "Percent for % metrics (40 = 40 %), money otherwise.",
        max_digits=16,
        decimal_places=4,
        low=-MAX_ALERT_THRESHOLD,
        high=MAX_ALERT_THRESHOLD,
    )
    schedule = models.CharField(max_length=10, choices=Schedule.choices, default=Schedule.DAILY)
    crontab = models.ForeignKey(
        "django_celery_beat.CrontabSchedule",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="When the rule is due (organisation time zone); editable in the admin.",
    )
    recipients = models.JSONField(default=list, blank=True, help_text="Email addresses.")
    channels = models.ManyToManyField(
        AlertChannel, blank=True, related_name="rules", help_text="Slack and webhook channels."
    )
    digest = models.BooleanField(
        default=False, help_text="Put this rule's breaches into one mail per window and recipient."
    )
    enabled = models.BooleanField(default=True)
    last_tick_at = models.DateTimeField(null=True, blank=True, help_text="Schedule tick last evaluated.")
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_measurement = models.JSONField(null=True, blank=True, help_text="What was measured last time.")

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            unique_constraint("alertrule", ["organization", "name"], "name"),
            models.CheckConstraint(
                condition=Q(scope="actual", scenario__isnull=True)
                | Q(scope="scenario", scenario__isnull=False),
                name="planner_alertrule_scope_scenario",
            ),
            one_of_constraint(
                "alertrule",
                "metric",
                ["gross_margin_pct", "underwater_share", "underwater_loss", "customer_margin", "cogs_p95"],
            ),
            one_of_constraint("alertrule", "comparator", ["lt", "lte", "gt", "gte"]),
            one_of_constraint("alertrule", "schedule", ["daily", "weekly", "monthly", "cron"]),
            between_constraint("alertrule", "threshold", -MAX_ALERT_THRESHOLD, MAX_ALERT_THRESHOLD),
        ]
        indexes = [models.Index(fields=["enabled", "organization"], name="planner_alertrule_enabled")]

    def __str__(self) -> str:
        return self.name


class AlertOutbox(models.Model):
    """One delivery to one target, written before anything is sent: a mail to ``recipient``,
    or a message to ``channel`` (``recipient`` then blank).

    Kinds: ``alert`` (one rule's breach), ``digest`` (every digest rule's breach of a window, for
    one recipient or Slack channel; ``rule`` is empty) and ``test`` (the "send a test alert now"
    action of a rule, or a channel's "send test", which has no rule). Unique keys, each a partial
    index: (rule, window, recipient) and (rule, window, channel) for rule rows, (organization,
    window, recipient) and (organization, window, channel) for rows without a rule; rows are
    inserted with ON CONFLICT DO NOTHING, so repeated evaluations of a window never add a second
    delivery. ``rules`` lists the rules whose figures the row carries. ``message_id`` is the
    row's identity, generated once when it is written and carried by every attempt: the
    Message-ID of a mail, the delivery id (a UUID, ``X-Margin-Planner-Delivery``) of a channel
    message.
    """

    class Kind(models.TextChoices):
        ALERT = "alert"
        DIGEST = "digest"
        TEST = "test"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        RETRYING = "retrying"
        FAILED = "failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alert_outbox")
    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, null=True, blank=True, related_name="outbox"
    )
    rules = models.ManyToManyField(AlertRule, blank=True, related_name="mails")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ALERT)
    window = models.CharField(max_length=40, help_text="Schedule window, organisation time zone.")
    recipient = models.EmailField(max_length=254, blank=True)
    channel = models.ForeignKey(
        AlertChannel, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    message_id = models.CharField(
        max_length=255, unique=True, help_text="Mail: the Message-ID; channel: the delivery id."
    )
    subject = models.CharField(max_length=255)
    text = models.TextField()
    html = models.TextField()
    measured = models.JSONField(default=dict, help_text="The figures the mail reports.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "alert outbox row"
        constraints = [
            unique_constraint(
                "alertoutbox",
                ["rule", "window", "recipient"],
                "rule_window_recipient",
                condition=Q(rule__isnull=False, channel__isnull=True),
            ),
            unique_constraint(
                "alertoutbox",
                ["organization", "window", "recipient"],
                "digest",
                condition=Q(rule__isnull=True, channel__isnull=True),
            ),
            unique_constraint(
                "alertoutbox",
                ["rule", "window", "channel"],
                "rule_window_channel",
                condition=Q(rule__isnull=False, channel__isnull=False),
            ),
            unique_constraint(
                "alertoutbox",
                ["organization", "window", "channel"],
                "channel_without_rule",
                condition=Q(rule__isnull=True, channel__isnull=False),
            ),
            one_of_constraint("alertoutbox", "status", ["pending", "sent", "retrying", "failed"]),
            one_of_constraint("alertoutbox", "kind", ["alert", "digest", "test"]),
            models.CheckConstraint(
                condition=Q(kind="digest", rule__isnull=True)
                | Q(kind="alert", rule__isnull=False)
                | (Q(kind="test") & (Q(rule__isnull=False) | Q(channel__isnull=False))),
                name="planner_alertoutbox_kind_rule",
            ),
            models.CheckConstraint(
                condition=(Q(channel__isnull=True) & ~Q(recipient=""))
                | Q(channel__isnull=False, recipient=""),
                name="planner_alertoutbox_one_target",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="planner_alertoutbox_due"),
            models.Index(fields=["organization", "-created_at"], name="planner_alertoutbox_org_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.recipient or self.channel} ({self.status})"
