"""The hardware-in-the-loop bench: drives the real daemon from outside through virtual CAN,
pseudo-terminals and a real broker. Built out by the HIL issue; it may import every package."""
