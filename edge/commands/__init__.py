"""Signed remote commands: verification, the replay guard and the dispatcher (no adapters)."""
