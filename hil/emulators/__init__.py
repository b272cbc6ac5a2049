"""Emulated hardware for the HIL bench: CAN log replay, ARS408 radars, GNSS receivers, a traffic
signal controller, a C-V2X radio (and the roadside unit it may play), a car's powertrain bus
driven by an actor, the box's HMI display."""

from hil.emulators.ars408 import Ars408Emulator
from hil.emulators.base import CanEmulator, Emulator, HilEmulatorError, ThreadedEmulator
from hil.emulators.can_replay import CanLogReplayer
from hil.emulators.cv2x_radio import CV2xRadioEmulator
from hil.emulators.gate import ChannelGate
from hil.emulators.gnss import GnssEmulator
from hil.emulators.hmi_display import HmiDisplayEmulator
from hil.emulators.rsu_air import RsuAir
from hil.emulators.signal_controller import SignalControllerEmulator
from hil.emulators.vehicle_can import VehicleCanEmulator
from hil.emulators.vehicle_log import write_vehicle_log

__all__ = [
    "Ars408Emulator",
    "CV2xRadioEmulator",
    "CanEmulator",
    "CanLogReplayer",
    "ChannelGate",
    "Emulator",
    "GnssEmulator",
    "HilEmulatorError",
    "HmiDisplayEmulator",
    "RsuAir",
    "SignalControllerEmulator",
    "ThreadedEmulator",
    "VehicleCanEmulator",
    "write_vehicle_log",
]
