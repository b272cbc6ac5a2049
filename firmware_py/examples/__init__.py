"""Data files shipped with the package (read by path, not imported)."""
