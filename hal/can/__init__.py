"""CAN ports: the ``CanPort`` interface, the frame batch layout, and adapters."""
