"""``[metrics]`` and ``[logging]`` of a box's config: the Prometheus endpoint and the log format.

```toml
[metrics]
enabled = true          # default: on, on loopback only
host = "127.0.0.1"      # "0.0.0.0" to let a scraper on another host in (then firewall it)
port = 9108

[logging]
format = "text"         # "text", "json" (one JSON object a line) or "journald"
level = "info"          # "debug", "info", "warning", "error"
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_py.config.reader import Table
from firmware_py.logging_setup import LOG_FORMATS

DEFAULT_METRICS_PORT = 9108
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class MetricsConfig:
    """Where the Prometheus endpoint listens; ``enabled = false``: no endpoint."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = DEFAULT_METRICS_PORT


@dataclass(frozen=True)
class LoggingConfig:
    """``format``: one of ``LOG_FORMATS``; ``level``: one of ``LOG_LEVELS``."""

    format: str = "text"
    level: str = "info"


@dataclass(frozen=True)
class ObservabilityConfig:
    """A box's ``[metrics]`` and ``[logging]``; a config without them gets the defaults."""

    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


def parse_observability(root: Table) -> ObservabilityConfig:
    """``[metrics]`` and ``[logging]`` of the config's ``root``; raises ``ConfigError`` naming
    the key for an unknown key or a value of the wrong type or range."""
    return ObservabilityConfig(
        parse_metrics(root.table("metrics")), parse_logging(root.table("logging"))
    )


def parse_metrics(t: Table) -> MetricsConfig:
    """``[metrics]``."""
    metrics = MetricsConfig(
        enabled=t.boolean("enabled", True),
        host=t.text("host", "127.0.0.1", what="a host name or IP address"),
        port=t.integer("port", DEFAULT_METRICS_PORT, low=1, high=65535),
    )
    t.reject_unknown()
    return metrics


def parse_logging(t: Table) -> LoggingConfig:
    """``[logging]``."""
    config = LoggingConfig(
        format=t.string("format", "text", choices=LOG_FORMATS),
        level=t.string("level", "info", choices=LOG_LEVELS),
    )
    t.reject_unknown()
    return config
