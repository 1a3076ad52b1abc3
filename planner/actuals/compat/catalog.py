"""Model names as billing events send them, resolved to catalog models (``provider/model``).

The rules (docs/INTEGRATIONS.md, "Model names"):

- ``provider/model``: the provider by its catalog slug, then the model by its slug, else the first
  of that provider's models whose genai-prices match clause (the catalog's aliases: dated
  snapshots such as ``gpt-4o-2024-08-06``) takes the name;
- a bare name (``gpt-4o``): the providers having a model of that slug (or, failing any, a model
  whose match clause takes it); exactly one provider resolves it, several resolve through the
  mapping's default provider when it is one of them, else the name is ambiguous;
- anything else is unknown, and refused: usage is never priced at $0.

Resolutions are remembered in this process's memory cache for ``CACHE_SECONDS`` (the catalog
changes only on a price import, and a stale answer lasts seconds at most), so a batch costs no
catalog query once its names have been seen.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches

from pricing.models import AIModel

CACHE_SECONDS = 5
_CACHE = "local"


@dataclass(frozen=True)
class ModelResolution:
    """``name`` is the catalog's ``provider/model``; empty when refused, with the ``reason``."""

    name: str = ""
    reason: str = ""


def _clause_match(clause: Any, text: str) -> bool:
    """Whether a genai-prices match clause (as stored in ``AIModel.match``) takes ``text``."""
    if not isinstance(clause, Mapping):
        return False
    if "or" in clause:
        return any(_clause_match(part, text) for part in clause["or"] or [])
    if "and" in clause:
        parts = clause["and"] or []
        return bool(parts) and all(_clause_match(part, text) for part in parts)
    lowered = text.lower()
    if "equals" in clause:
        return lowered == str(clause["equals"]).lower()
    if "starts_with" in clause:
        return lowered.startswith(str(clause["starts_with"]).lower())
    if "ends_with" in clause:
        return lowered.endswith(str(clause["ends_with"]).lower())
    if "contains" in clause:
        return str(clause["contains"]).lower() in lowered
    if "regex" in clause:
        try:
            return re.search(str(clause["regex"]), text) is not None
        except re.error:
            return False
    return False


class _Index:
    """The catalog's models by provider, in catalog order, and the providers of each slug."""

    def __init__(self, rows: Iterable[tuple[str, str, Any]]) -> None:
        self.by_provider: dict[str, list[tuple[str, Any]]] = {}
        self.slug_providers: dict[str, list[str]] = {}
        for provider, slug, match in rows:
            self.by_provider.setdefault(provider, []).append((slug, match))
            providers = self.slug_providers.setdefault(slug.lower(), [])
            if provider not in providers:
                providers.append(provider)

    def in_provider(self, provider: str, name: str) -> str | None:
        models = self.by_provider.get(provider, [])
        lowered = name.lower()
        for slug, _ in models:
            if slug.lower() == lowered:
                return slug
        for slug, match in models:
            if _clause_match(match, name):
                return slug
        return None

    def bare(self, name: str, default_provider: str) -> ModelResolution:
        providers = self.slug_providers.get(name.lower())
        if not providers:
            providers = [
                p for p, models in self.by_provider.items() if any(_clause_match(m, name) for _, m in models)
            ]
        if not providers:
            return ModelResolution(reason=f"Unknown model {name!r}: it is not in the price catalog.")
        if len(providers) > 1:
            if default_provider in providers:
                providers = [default_provider]
            else:
                listed = ", ".join(sorted(providers)[:5])
                return ModelResolution(
                    reason=f"Ambiguous model {name!r}: several providers sell it ({listed}); name it as "
                    "provider/model or set the mapping's default provider."
                )
        slug = self.in_provider(providers[0], name)
        if slug is None:  # pragma: no cover - the provider was chosen for having it
            return ModelResolution(reason=f"Unknown model {name!r}: it is not in the price catalog.")
        return ModelResolution(name=f"{providers[0]}/{slug}")

    def resolve(self, name: str, default_provider: str) -> ModelResolution:
        if "/" in name:
            provider, rest = name.split("/", 1)
            if provider.lower() in self.by_provider:
                slug = self.in_provider(provider.lower(), rest)
                if slug is not None:
                    return ModelResolution(name=f"{provider.lower()}/{slug}")
                return ModelResolution(
                    reason=f"Unknown model {name!r}: provider {provider!r} has no such model "
                    "in the price catalog."
                )
        return self.bare(name, default_provider)


def _load_index() -> _Index:
    return _Index(
        AIModel.objects.order_by("provider__slug", "id")
        .values_list("provider__slug", "slug", "match")
        .iterator()
    )


def _cache_key(default_provider: str, name: str) -> str:
    digest = hashlib.blake2b(
        f"{default_provider}\x1f{name}".encode(errors="backslashreplace"), digest_size=16
    )
    return f"compat-model:{digest.hexdigest()}"


def models_resolve(names: Iterable[str], *, default_provider: str = "") -> dict[str, ModelResolution]:
    """Each of ``names`` resolved (see the module docstring)."""
    cache = caches[_CACHE]
    wanted = set(names)
    keys = {name: _cache_key(default_provider, name) for name in wanted}
    found: dict[str, Any] = cache.get_many(list(keys.values())) if wanted else {}
    resolved: dict[str, ModelResolution] = {}
    missing: list[str] = []
    for name in wanted:
        hit = found.get(keys[name])
        if hit is None:
            missing.append(name)
        else:
            resolved[name] = ModelResolution(*hit)
    if missing:
        index = _load_index()
        fresh = {name: index.resolve(name, default_provider) for name in missing}
        resolved.update(fresh)
        cache.set_many(
            {keys[name]: (result.name, result.reason) for name, result in fresh.items()},
            CACHE_SECONDS,
        )
    return resolved
