"""``python -m firmware_py.cli`` is the ``roadgate`` command."""

from firmware_py.cli import main

raise SystemExit(main())
