"""``python -m weespin_instrument``: the same as the ``weespin-instrument`` command."""

from .cli import main

raise SystemExit(main())
