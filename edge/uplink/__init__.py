"""The uplink: Envelopes out to the MQTT broker, safety events first."""
