"""The shipped HIL scenario files and the recorded data they replay (data only: the code that
loads and checks them is ``hil/scenario_engine/``)."""
