#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
    if not os.environ.get("DATABASE_URL"):
        # The embedded default: start its PostgreSQL server, or attach to the one already running.
        from cms import embedded_postgres

        embedded_postgres.start(embedded_postgres.data_dir(os.environ, Path(__file__).resolve().parent))
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
