"""Recorded CAN logs for HIL scenarios; ``generate`` rebuilds them."""
