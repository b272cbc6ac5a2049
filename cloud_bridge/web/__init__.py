"""The bridge's HTTP side: a read API over the store, a live stream per region, a dashboard.

``settings.py`` and ``web_config.py`` the ``[web]`` settings; ``api_keys.py`` hashed keys per
region; ``read_model.py`` the read-only queries (``postgres_read_model.py`` on PostgreSQL);
``live_hub.py`` what the bridge just stored, pushed to WebSocket clients with back-pressure;
``api.py`` the FastAPI application; ``server.py`` runs it on uvicorn beside a
``BridgeService``; ``static/`` the dashboard.
"""
