"""The simulated world and sensors behind `roadgate demo` and simulated boxes."""
