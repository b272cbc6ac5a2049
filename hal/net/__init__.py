"""Network ports for sensors that speak over IP (signal controllers' UDP broadcasts)."""
