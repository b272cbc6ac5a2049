"""V2X safety applications: each turns states or object lists into TrafficEvents."""
