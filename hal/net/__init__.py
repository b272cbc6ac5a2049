"""Network ports for sensors that speak over IP (signal controllers' UDP broadcasts), and the
asyncio driver of paho-mqtt's socket (``paho_loop``) that the uplink and the bridge share."""
