"""The Content-Security-Policy header (django-csp; docs/WEB.md) and the templates that must
live under it: no inline script without the request's nonce, no style or on* attribute."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.test import Client

NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=]+)'")
# Mail is not served to a browser; its inline styles are what mail clients need.
MAIL_TEMPLATES = {"alerts/email.html"}


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_pages_carry_the_policy(signed_in: Client) -> None:
    policy = directives(signed_in.get("/")["Content-Security-Policy"])
    assert policy["default-src"] == "'self'"
    assert policy["script-src"].startswith("'self'")
    assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["img-src"] == "'self' data: blob:"
    assert (policy["connect-src"], policy["object-src"]) == ("'self'", "'none'")
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == policy["form-action"] == "'self'"


def test_swagger_ui_inline_script_and_style_carry_a_fresh_nonce_per_request(client: Client) -> None:
    nonces = []
    for _ in range(2):
        response = client.get("/api/v1/docs/")
        policy = directives(response["Content-Security-Policy"])
        (nonce,) = NONCE.findall(policy["script-src"])
        assert NONCE.findall(policy["style-src"]) == [nonce]
        html = response.content.decode()
        assert f'<script nonce="{nonce}">' in html
        assert f'<style nonce="{nonce}">' in html
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_templates_have_no_inline_script_style_or_handler() -> None:
    root = Path(settings.BASE_DIR) / "templates"
    offences = []
    for path in sorted(root.rglob("*.html")):
        name = path.relative_to(root).as_posix()
        if name in MAIL_TEMPLATES:
            continue
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and "nonce=" not in tag:
                offences.append(f"{name}: inline {tag}")
        for tag in re.findall(r"<style\b[^>]*>", text):
            if "nonce=" not in tag:
                offences.append(f"{name}: inline {tag}")
        offences += [f"{name}: {m}" for m in re.findall(r"\s(?:style|on[a-z]+)\s*=", text)]
    assert not offences, offences
