"""A static files finder for the charting library: ``vendor/plotly/plotly.min.js`` is served
from the pinned ``plotly`` PyPI package (which bundles plotly.js), so the web needs no CDN and no
npm: ``pip install -r requirements.txt`` brings the exact JavaScript the tests ran against.

Only that one file is exposed (the package's other data, such as sample datasets, is not).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor/plotly"
FILENAME = "plotly.min.js"
_SPEC = importlib.util.find_spec("plotly")
PACKAGE_DATA = Path(_SPEC.origin if _SPEC and _SPEC.origin else ".").resolve().parent / "package_data"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=PACKAGE_DATA)
        self.storage.prefix = PREFIX  # type: ignore[attr-defined]  # read by collectstatic

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        if not (PACKAGE_DATA / FILENAME).is_file():
            return [Error(f"{PACKAGE_DATA / FILENAME} is missing; reinstall the plotly package.")]
        return []

    # One signature for Django's overloads (find_all=True gives a list; Django < 5.2 said all=).
    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        if path == f"{PREFIX}/{FILENAME}":
            found = str(PACKAGE_DATA / FILENAME)
            return [found] if find_all or kwargs.get("all") else found
        return [] if find_all or kwargs.get("all") else ""

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        yield FILENAME, self.storage
