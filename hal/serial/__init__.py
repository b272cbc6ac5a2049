"""Serial ports for line-oriented sensors (GNSS NMEA): the port interface and adapters."""
