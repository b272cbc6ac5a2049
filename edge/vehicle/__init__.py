"""Vehicle gateway stages: canonical signals from decoded CAN, and the vehicle state."""
