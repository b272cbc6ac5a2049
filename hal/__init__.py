"""Hardware abstraction: one small port per hardware kind (CAN, serial, datagrams), adapters behind
them.

Vendor libraries (python-can, pyserial) are imported only inside the adapter that uses them, when
the port is opened. ``hal`` imports no other RoadGate package.
"""
