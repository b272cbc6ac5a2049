"""HIL scenarios and the recorded data they replay."""
