"""One form style across the app (issue 19): the alert, price-sheet and self-hosted forms use the
markup of the scenario editor and the product page (``partials/field.html``): labels without
Django's "Name:" suffix, submit controls that are ``<button>``s, and errors next to their field
(``id="<field>_error"``, ``role="alert"``)."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.test import Client

from planner.accounts.models import Organization
from planner.alerts.channels import alert_channel_create
from planner.alerts.models import AlertRule
from planner.prices.sheets import price_sheet_create
from planner.products.models import Product
from tests.alerts.test_alerts_web import _form
from tests.web.test_price_pages import deployment_for

pytestmark = pytest.mark.django_db


class _FormMarkup(HTMLParser):
    """The labels' texts and, per ``<form>``, its submit controls."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[str] = []
        self.forms: list[dict[str, int]] = []
        self._label: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kind = (dict(attrs).get("type") or "").lower()
        if tag == "form":
            self.forms.append({"buttons": 0, "input_submits": 0})
        elif tag == "label":
            self._label = []
        elif tag == "button" and self.forms and kind in ("", "submit"):
            self.forms[-1]["buttons"] += 1
        elif tag == "input" and kind in ("submit", "image") and self.forms:
            self.forms[-1]["input_submits"] += 1

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label is not None:
            self.labels.append(" ".join("".join(self._label).split()))
            self._label = None


def _markup(html: str) -> _FormMarkup:
    parser = _FormMarkup()
    parser.feed(html)
    return parser


@pytest.fixture
def pages(organization: Organization, product: Product, signed_in: Client) -> list[str]:
    """Every page that holds one of these forms, for new and existing objects."""
    sheet = price_sheet_create(organization=organization, name="Deal", effective_from=dt.date(2026, 1, 1))
    deployment = deployment_for(organization)
    channel, _ = alert_channel_create(
        organization=organization, name="Ops", kind="webhook", url="https://hooks.example.com/x"
    )
    assert signed_in.post("/alerts/new/", _form(product)).status_code == 302
    rule = AlertRule.objects.get()
    return [
        "/alerts/new/",
        f"/alerts/{rule.pk}/edit/",
        "/alerts/channels/new/",
        f"/alerts/channels/{channel.pk}/edit/",
        "/prices/sheets/new/",
        f"/prices/sheets/{sheet.pk}/edit/",
        f"/prices/sheets/{sheet.pk}/",  # the import and "add an entry" forms
        "/prices/self-hosted/new/",
        f"/prices/self-hosted/{deployment.pk}/edit/",
        f"/prices/self-hosted/{deployment.pk}/",  # the break-even form
    ]


def test_forms_have_labels_without_colons_and_button_submits(signed_in: Client, pages: list[str]) -> None:
    for url in pages:
        response = signed_in.get(url)
        assert response.status_code == 200, url
        markup = _markup(response.content.decode())
        assert markup.labels and markup.forms, url
        assert [label for label in markup.labels if label.endswith(":")] == [], url
        for form in markup.forms:
            assert form["buttons"] >= 1 and form["input_submits"] == 0, url


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/alerts/new/", "name"),
        ("/alerts/channels/new/", "name"),
        ("/prices/sheets/new/", "name"),
        ("/prices/self-hosted/new/", "name"),
    ],
)
def test_errors_stand_next_to_their_field(
    signed_in: Client, organization: Organization, url: str, field: str
) -> None:
    response = signed_in.post(url, {"organization": organization.pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<ul class="errorlist" id="id_{field}_error" role="alert">' in html
    # The error list follows its own field's control, inside the same ``.field`` block.
    block = html[html.index(f'<label for="id_{field}">') : html.index(f'id="id_{field}_error"')]
    assert f'id="id_{field}"' in block and '<div class="field' not in block
