"""How often a busy radar bus is read."""

RADAR_READ_WINDOW_S = 0.01
"""A seventh of an ARS408's 72 ms cycle. Four full buses then wake the unit once a bus every
10 ms instead of every few frames: ``bench e2e`` in the guest, unlimited, the unit's CPU 3.5-4.1 s
for 10 s of traffic against 4.8-4.9 s reading at every frame."""
