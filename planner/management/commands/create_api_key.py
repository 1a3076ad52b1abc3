"""``manage.py create_api_key --org SLUG --name NAME [--scope read --scope write ...]``.

Prints a short description, then the new key alone on the last line (so scripts can take it
with ``tail -n 1``). The key is shown only this once: it is stored hashed.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from planner.accounts.api_keys import api_key_create
from planner.accounts.models import ApiKey, Organization


class Command(BaseCommand):
    help = "Create an API key for an organisation and print it (last line). It is shown only once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organisation slug.")
        parser.add_argument("--name", required=True, help="A name telling what the key is for.")
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiKey.SCOPES,
            dest="scopes",
            help="Scope to grant; repeat for several (default: read).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organisation with slug {options['org']!r}.")
        scopes = list(dict.fromkeys(options["scopes"] or [ApiKey.SCOPE_READ]))
        try:
            api_key, plain = api_key_create(organization=organization, name=options["name"], scopes=scopes)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"Created API key {api_key.name!r} (prefix {api_key.prefix}, scopes {', '.join(scopes)}) "
            f"for {organization.slug}. Store it now; it cannot be shown again:"
        )
        self.stdout.write(plain)
