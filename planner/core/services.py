"""Write helpers shared by the domains' services.

``model_update`` is the one way a service applies a mapping of field values to a model
(HackSoftware's Django Styleguide helper of that name): it refuses keys outside the caller's
list of editable fields, validates the whole object before anything is written and saves only
the fields it was given. ``protected_referrers`` says which rows keep objects from being deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, router
from django.db.models.deletion import Collector, ProtectedError

M = TypeVar("M", bound=models.Model)


def model_update(
    *,
    instance: M,
    fields: Collection[str],
    data: Mapping[str, Any],
    validate: Callable[[M], object] | None = None,
    refresh_on_error: bool = True,
    unknown_message: str = "This field cannot be changed.",
) -> tuple[M, bool]:
    """Set the values of ``data`` on ``instance``, validate it and save it.

    - A key of ``data`` outside ``fields`` (the caller's editable fields) is refused before
      anything is set: one ``ValidationError`` names each such key with ``unknown_message``.
    - Validation is ``validate(instance)`` when given (a service whose rules go beyond the
      model's calls ``full_clean`` there itself), else ``instance.full_clean()``. When it
      raises, nothing is saved; a stored instance is first reloaded from the database when
      ``refresh_on_error``, so the caller's object shows what is stored again.
    - A stored instance is saved with ``update_fields``: the keys of ``data``, and
      ``updated_at`` when the model has that column (so it moves on every update, as a plain
      ``save()`` would). An unsaved instance is inserted whole.

    Returns ``(instance, changed)``: ``changed`` is whether any value differs from the one the
    instance held before (a relation compared by its id, so nothing is loaded to compare).
    """
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValidationError({name: unknown_message for name in unknown})
    changed = False
    for name, value in data.items():
        attname = _attname(instance, name)
        before = getattr(instance, attname)
        setattr(instance, name, value)
        changed = changed or getattr(instance, attname) != before
    try:
        if validate is None:
            instance.full_clean()
        else:
            validate(instance)
    except ValidationError:
        if refresh_on_error and not instance._state.adding:
            instance.refresh_from_db()
        raise
    if instance._state.adding:
        instance.save()
    else:
        stamped = ["updated_at"] if _has_field(instance, "updated_at") else []
        instance.save(update_fields=[*data, *stamped])
    return instance, changed


def _attname(instance: models.Model, name: str) -> str:
    """The attribute holding field ``name``'s value: a foreign key's ``<name>_id``."""
    field = instance._meta.get_field(name)
    return field.attname if isinstance(field, models.Field) else name


def _has_field(instance: models.Model, name: str) -> bool:
    try:
        instance._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def protected_referrers(objects: Iterable[models.Model]) -> list[models.Model]:
    """The rows whose ``PROTECT`` foreign keys keep ``objects`` from being deleted (empty: they may
    be deleted), found by Django's deletion collector without deleting anything.

    A service of a lower domain asks the database's own rule which rows of higher domains use its
    objects, instead of importing their models (the layers contract in pyproject.toml).
    """
    objects = list(objects)
    if not objects:
        return []
    collector = Collector(using=router.db_for_write(type(objects[0])))
    try:
        collector.collect(objects)
    except ProtectedError as error:
        return sorted(error.protected_objects, key=str)
    return []
