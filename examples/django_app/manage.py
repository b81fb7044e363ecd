#!/usr/bin/env python
"""The example Django project's manage.py: ``python manage.py runserver`` serves it.

Set ``WEESPIN_API_KEY`` / ``WEESPIN_BASE_URL`` first (``weespin-instrument collector``
prints them for a local collector). ``python demo.py`` runs it end to end instead.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
