"""``python -m firmware_py`` is the ``roadgate`` command (for a venv whose scripts are not on
PATH, such as inside a user-mode-linux guest)."""

from firmware_py.cli import main

raise SystemExit(main())
