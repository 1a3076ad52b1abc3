"""Web forms of the product page. They parse input only; the planner services validate the
domain rules and their errors are put back on the field at fault (``form_errors_add``)."""

from __future__ import annotations

from django import forms


class ScenarioFromLiveForm(forms.Form):
    """The name of a new scenario that starts as a copy of the product's live plan."""

    name = forms.CharField(
        max_length=200,
        label="Scenario name",
        help_text=(
            "It starts as a copy of the live plan; editing it changes neither the live plan "
            "nor any other scenario."
        ),
    )
