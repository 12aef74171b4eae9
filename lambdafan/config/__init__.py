"""The user's fleet config (`lambdafan.yaml`): read, validated, and turned into `FleetSettings`.

Every problem becomes one `ConfigError` line naming the file, the key path and what is wrong, so
the user can fix a typo from the message alone, before anything is deployed or run.
"""

from __future__ import annotations

from lambdafan.config.errors import ConfigError
from lambdafan.config.load import load_config
from lambdafan.config.schema import DEFAULT_SCHEDULE, SCRIPT_NAME, Config
from lambdafan.config.values import LOG_RETENTION_DAYS, known_regions

__all__ = [
    "DEFAULT_SCHEDULE",
    "LOG_RETENTION_DAYS",
    "SCRIPT_NAME",
    "Config",
    "ConfigError",
    "known_regions",
    "load_config",
]
