"""A static files finder that serves plotly.js from the plotly package itself: no CDN, no copy in the repository."""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS = "plotly.min.js"
PREFIX = "analytics/vendor"
STATIC_PATH = f"{PREFIX}/{PLOTLY_JS}"


class PlotlyJsFinder(BaseFinder):
    """Finds ``analytics/vendor/plotly.min.js``, the bundle the installed plotly package ships."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=Path(plotly.__file__).parent / "package_data")
        # collectstatic puts the file under the storage's prefix.
        self.storage.prefix = PREFIX

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        if path == STATIC_PATH and self.storage.exists(PLOTLY_JS):
            found = self.storage.path(PLOTLY_JS)
            return [found] if find_all else found
        return [] if find_all else None

    def list(self, ignore_patterns):
        yield PLOTLY_JS, self.storage
