"""An example EMQX 5 cluster for a RoadGate fleet: ``emqx.conf`` and the ACL generator."""
