"""Config files (TOML) parsed once at start-up into frozen, typed objects."""
