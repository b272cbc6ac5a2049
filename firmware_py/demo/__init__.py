"""`roadgate demo`: the simulated intersection end to end on embedded defaults."""
