"""The lever services' refusals in the words of the editor's lever form.

``planner.core.validators.levers_validate_structure`` and ``Scenario.clean`` speak of levers by
key and of fields by their stored names ("Lever 'l3': set 'routing_model' and 'routing_share'
together."), which is right for the API and wrong for a person filling in the form: here each
message of the lever being added goes next to the form field at fault, with that field's label
("Route to model: choose a model to route the share to.").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import pretty_name

_LEVER = re.compile(r"^Lever '(?P<key>[^']*)': (?P<rest>.*)$", re.DOTALL)
_QUOTED = re.compile(r"'(\w+)'")


def _label(form: forms.BaseForm, name: str) -> str:
    field = form.fields.get(name)
    return str(field.label) if field is not None and field.label else pretty_name(name)


def _in_form_words(form: forms.BaseForm, rest: str, cleaned: Mapping[str, Any]) -> tuple[str | None, str]:
    """``(field, message)`` for one service message about the new lever (``field`` None: the
    form's own error)."""
    if rest.startswith("set 'routing_model' and 'routing_share' together"):
        if cleaned.get("routing_share") is not None:
            return "routing_model", f"{_label(form, 'routing_model')}: choose a model to route the share to."
        return (
            "routing_share",
            f"{_label(form, 'routing_share')}: say which share of requests goes to the model.",
        )
    if rest.startswith("changes nothing"):
        listed = rest.partition("set at least one of ")[2].rstrip(".").split(", ")
        settings = [_label(form, name) for name in listed if name in form.fields]
        return None, f"The lever changes nothing: set at least one of {', '.join(settings)}."
    if rest.startswith("set 'fee'"):
        return "fee_scale", f"Set {_label(form, 'fee')} or {_label(form, 'fee_scale')}, not both."
    if "are not workloads of this product" in rest:
        return "workloads", f"{_label(form, 'workloads')}: choose workloads of this product."
    if re.match(r"model id \d+ does not exist", rest):
        return "routing_model", f"{_label(form, 'routing_model')}: choose a model from the catalog."
    if "are not tiers of this scenario's plan" in rest:
        return "tiers", f"{_label(form, 'tiers')}: choose tiers of this scenario's plan."
    bound = re.match(r"'(\w+)' must be a number between 0 and (\S+)\.", rest)
    if bound and bound.group(1) in form.fields:
        return bound.group(1), f"{_label(form, bound.group(1))}: a number between 0 and {bound.group(2)}."
    named = [name for name in _QUOTED.findall(rest) if name in form.fields]
    words = _QUOTED.sub(lambda m: _label(form, m.group(1)) if m.group(1) in form.fields else m.group(1), rest)
    return (named[0] if named else None), words[:1].upper() + words[1:]


def lever_errors_add(form: forms.BaseForm, error: ValidationError, *, labels: Mapping[str, str]) -> None:
    """Put a lever service's ``error`` on ``form`` in its words. ``labels``: the scenario's
    levers' labels by key, before the new one (a message about any other key is the new
    lever's)."""
    taken = set(labels)
    cleaned = getattr(form, "cleaned_data", {}) or {}
    messages: list[tuple[str | None, str]] = []
    if hasattr(error, "error_dict"):
        for field_name, field_messages in error.message_dict.items():
            messages.extend((field_name, message) for message in field_messages)
    else:
        messages.extend((None, message) for message in error.messages)
    for name, message in messages:
        match = _LEVER.match(message)
        if match is None:
            form.add_error(name if name in form.fields else None, message)
        elif match.group("key") in taken:
            label = labels.get(match.group("key"), match.group("key"))
            rest = _QUOTED.sub(lambda m: pretty_name(m.group(1)).lower(), match.group("rest"))
            form.add_error(None, f"Lever “{label}”: {rest}")
        else:
            field, words = _in_form_words(form, match.group("rest"), cleaned)
            form.add_error(field if field in form.fields else None, words)
