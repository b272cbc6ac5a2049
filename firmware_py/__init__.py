"""The composition root: reads the config, builds the boxes and the bridge, runs them."""

__version__ = "0.1.0"
