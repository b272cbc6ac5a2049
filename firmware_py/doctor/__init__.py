"""``roadgate doctor``: is this board ready to run its box? One module per check, each
returning ``Finding``s (what holds or what is wrong, and how to fix it); ``checks.py`` runs
them all for a config."""
