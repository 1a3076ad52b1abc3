"""Fast read representations: the same JSON as the serializers, without rebuilding them per request.

A DRF serializer builds its fields on first use, per instance: for a ``ModelSerializer`` that
means reading the model's metadata and constructing a dozen field objects on every request,
which costs more than the query behind a short list. The serializers of this API do not read
the request context when they represent an object (ids, not hyperlinks), so one instance per
class and process can represent any object of any request: :func:`represent` and
:func:`represent_many` keep that instance. ``tests/api/test_fast_reads.py`` checks, for
every list and detail route, that the result equals a fresh serializer's ``data``.

Writes and validation always use fresh serializers: only ``to_representation`` is shared, and
it does not mutate the serializer, so sharing is thread-safe.

Lists of models that stamp every change in a version column (``updated_at``, ``auto_now``)
and whose serializer reads only their own columns reuse each object's representation, keyed
by (id, version): :func:`represent_versions`. The key names the content, so the entries need
no invalidation and each process may keep its own (the ``local`` cache).

A succeeded run's document is final, so :func:`finished_run_document` renders it once and
keeps the bytes in the cache: reading results costs one indexed query, not a serialisation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import caches
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from api.serializers.runs import RunSerializer
from planner.simulation.models import SimulationRun

_PROTOTYPES: dict[type[serializers.BaseSerializer[Any]], serializers.BaseSerializer[Any]] = {}


def _prototype(serializer_class: type[serializers.BaseSerializer[Any]]) -> serializers.BaseSerializer[Any]:
    """The process's instance of ``serializer_class``, its fields built once."""
    prototype = _PROTOTYPES.get(serializer_class)
    if prototype is None:
        prototype = serializer_class(context={})
        _ = prototype.fields  # type: ignore[attr-defined]  # build the fields now, once
        _PROTOTYPES[serializer_class] = prototype
    return prototype


def represent(serializer_class: type[serializers.BaseSerializer[Any]], instance: Any) -> ReturnDict[Any, Any]:
    """``serializer_class(instance).data``, built with the process's shared serializer."""
    prototype = _prototype(serializer_class)
    return ReturnDict(prototype.to_representation(instance), serializer=prototype)


def represent_many(
    serializer_class: type[serializers.BaseSerializer[Any]], instances: Iterable[Any]
) -> ReturnList[Any]:
    """``serializer_class(instances, many=True).data``, built with the shared serializer."""
    prototype = _prototype(serializer_class)
    return ReturnList([prototype.to_representation(item) for item in instances], serializer=prototype)


def represent_versions(
    serializer_class: type[serializers.BaseSerializer[Any]],
    queryset: QuerySet[Any],
    versions: Sequence[tuple[int, datetime]],
    *,
    version_field: str = "updated_at",
) -> ReturnList[Any]:
    """The representations of the objects ``versions`` lists as ``(id, version)``, in that order.

    Each is taken from the ``local`` cache under (serializer fingerprint, model, id, version)
    or, if missing, built from ``queryset.filter(pk__in=...)`` (the caller's scoped queryset,
    one query for all the misses) and stored under the version the object was read with. An
    object changed since ``versions`` was read is shown as it is now; one deleted since, not at
    all. Only for serializers that read the model's own columns alone.
    """
    prototype = _prototype(serializer_class)
    prefix = f"api-repr:{_fingerprint(serializer_class)}:{queryset.model._meta.label_lower}"

    def key(pk: int, version: datetime) -> str:
        return f"{prefix}:{pk}:{version.isoformat()}"

    wanted = {pk: key(pk, version) for pk, version in versions}
    local = caches["local"]
    found: dict[str, Any] = local.get_many(list(wanted.values()))
    missing = [pk for pk, cache_key in wanted.items() if cache_key not in found]
    if missing:
        built = {}
        for instance in queryset.filter(pk__in=missing):
            wanted[instance.pk] = key(instance.pk, getattr(instance, version_field))
            built[wanted[instance.pk]] = prototype.to_representation(instance)
        local.set_many(built, timeout=None)
        found.update(built)
    return ReturnList([found[wanted[pk]] for pk, _ in versions if wanted[pk] in found], serializer=prototype)


_FINGERPRINTS: dict[type[serializers.BaseSerializer[Any]], str] = {}


def _fingerprint(serializer_class: type[serializers.BaseSerializer[Any]]) -> str:
    """``serializer_fingerprint`` of ``serializer_class``, computed once per process."""
    fingerprint = _FINGERPRINTS.get(serializer_class)
    if fingerprint is None:
        fingerprint = _FINGERPRINTS[serializer_class] = serializer_fingerprint(_prototype(serializer_class))
    return fingerprint


def serializer_fingerprint(serializer: serializers.BaseSerializer[Any]) -> str:
    """A short hash of a serializer's output structure: field names and classes, recursively.

    It changes whenever a field is added, removed, renamed or retyped, so cached documents
    keyed by it are never served in an older shape after an upgrade.
    """

    def structure(field: Any) -> str:
        if isinstance(field, serializers.ListSerializer | serializers.ListField):
            return f"{type(field).__name__}[{structure(field.child)}]"
        if isinstance(field, serializers.Serializer):
            inner = ",".join(f"{name}:{structure(child)}" for name, child in field.fields.items())
            return f"{type(field).__name__}{{{inner}}}"
        return type(field).__name__

    return hashlib.sha256(structure(serializer).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StoredDocument:
    """A rendered JSON document and its entity tag (quoted, as sent in ``ETag``)."""

    body: bytes
    etag: str


def finished_run_document(run: SimulationRun) -> StoredDocument:
    """The rendered ``RunSerializer`` JSON of a succeeded run, rendered once and then cached.

    A succeeded run never changes (its results, progress and timestamps are final), so the
    document is kept without expiry in the process's memory (the ``local`` cache, bounded by
    its entry count: the least recently used are dropped first). The key holds the run's id
    and its creation and finish times, so a reused id (a reset database) never meets an old
    document, and the serializer's fingerprint, so an upgrade that changes the format
    renders afresh. ``run`` may come with ``results`` deferred: it is loaded on a miss only.
    """
    if run.status != SimulationRun.Status.SUCCEEDED or run.finished_at is None:
        raise ValueError(f"Run {run.pk} has not succeeded; only succeeded runs are final.")
    key = ":".join(
        [
            "api-run-document",
            _fingerprint(RunSerializer),
            str(run.pk),
            run.created_at.isoformat(),
            run.finished_at.isoformat(),
        ]
    )
    document: StoredDocument | None = caches["local"].get(key)
    if document is None:
        body = JSONRenderer().render(represent(RunSerializer, run))
        document = StoredDocument(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')
        caches["local"].set(key, document, timeout=None)
    return document
