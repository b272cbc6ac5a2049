"""Cloud bridge: subscribe to device uplinks, validate, dedupe, store.

``cloud_bridge`` imports ``protocols`` only. Start it with :func:`cloud_bridge.service.run_bridge`
or an :class:`cloud_bridge.service.BridgeService` task; configuration arrives as
:class:`cloud_bridge.settings.BridgeSettings` (parsed from files by ``firmware_py``).
"""
