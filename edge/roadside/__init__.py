"""Roadside unit stages: radar objects into WGS84 object lists, signal phase and timing."""
