"""``[recorder]`` of a box's config: the flight recorder (``edge.recording``).

```toml
[recorder]
enabled = true            # default: off
directory = "recordings"  # default: "recordings" beside the outbox (relative: to this file)
max_file_mb = 64          # a file is finished and a new one started at this size...
max_file_age_s = 900      # ...or this age
max_total_mb = 1024       # the oldest files are deleted beyond this
```

Without ``[recorder]`` the box has no recorder and never loads its libraries (mcap,
zstandard); the remote ``record`` command fails. With ``[recorder]`` but ``enabled = false`` the
box records nothing until a ``record start`` command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from firmware_py.config.reader import Table

RECORDINGS_DIR = "recordings"
MAX_FILE_MB = 64 * 1024.0
MAX_TOTAL_MB = 1024 * 1024.0
MAX_FILE_AGE_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class RecorderConfig:
    """Where and how much the flight recorder keeps. ``configured``: the config has
    ``[recorder]`` (the box has a recorder); ``enabled``: it records from the start.
    ``directory`` None: ``recordings`` beside the outbox (``recordings_dir``)."""

    configured: bool = False
    enabled: bool = False
    directory: Path | None = None
    max_file_mb: float = 64.0
    max_file_age_s: float = 900.0
    max_total_mb: float = 1024.0

    def recordings_dir(self, outbox_path: Path) -> Path:
        """The directory recorded into, for a box whose outbox is at ``outbox_path``."""
        if self.directory is not None:
            return self.directory
        if str(outbox_path) == ":memory:":
            from firmware_py.config.model import DEFAULT_STATE_DIR

            return DEFAULT_STATE_DIR / RECORDINGS_DIR
        return outbox_path.parent / RECORDINGS_DIR


def parse_recorder(root: Table, base_dir: Path) -> RecorderConfig:
    """``[recorder]`` of the config's ``root``; raises ``ConfigError`` naming the key for an
    unknown key, a value of the wrong type or range, or a total smaller than one file."""
    t = root.table("recorder")
    config = RecorderConfig(
        configured=root.has("recorder"),
        enabled=t.boolean("enabled", False),
        directory=t.file_path("directory", base_dir=base_dir) if t.has("directory") else None,
        max_file_mb=t.number("max_file_mb", 64.0, above=0.0, high=MAX_FILE_MB),
        max_file_age_s=t.number("max_file_age_s", 900.0, above=0.0, high=MAX_FILE_AGE_S),
        max_total_mb=t.number("max_total_mb", 1024.0, above=0.0, high=MAX_TOTAL_MB),
    )
    if config.max_total_mb < config.max_file_mb:
        raise t.error(
            "max_total_mb",
            config.max_total_mb,
            f"at least max_file_mb ({config.max_file_mb:g}): the newest file is always kept",
        )
    t.reject_unknown()
    return config
