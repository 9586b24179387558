"""Test-only pause points: a task announces it reached one and waits, so a test can kill its worker there.

Inactive unless ``CMS_BILLING_TEST_HOOK_DIR`` is set (never in production settings).
"""

import os
import time
from pathlib import Path

from billing.app_settings import app_settings

PAUSE_SECONDS = 60


def pause_point(name: str) -> None:
    """Announce ``name`` with the id of the process that reached it (a pool child or the worker itself)."""
    directory = app_settings.TEST_HOOK_DIR
    if not directory:
        return
    Path(directory, f"{name}.paused").write_text(str(os.getpid()))
    deadline = time.monotonic() + PAUSE_SECONDS
    while not Path(directory, f"{name}.release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
