"""What the patches of daphne's server share: each is installed once per process, and only when daphne is the
server (its command line imports it before loading ``cms.asgi``, which installs them); other processes (Celery,
tests' in-process servers, another ASGI server) are left alone."""

import functools
import sys
from collections.abc import Callable
from types import ModuleType


def daphne_patch(install: Callable[[ModuleType], None]) -> Callable[[], None]:
    """``install(daphne.server)`` as a function of no arguments that runs it at most once, where daphne serves."""
    installed = False

    @functools.wraps(install)
    def once() -> None:
        nonlocal installed
        daphne_server = sys.modules.get("daphne.server")
        if installed or daphne_server is None:
            return
        installed = True
        install(daphne_server)

    return once
