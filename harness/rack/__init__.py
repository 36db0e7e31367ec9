"""The rack under test: drivers built from the station file, reached through capabilities, and the
safe state every run ends in. See :mod:`harness.rack.rack`."""

from harness.rack.capabilities import HostPower, Load, Outlet, PowerMeter, PowerSwitch
from harness.rack.equipment import InventoryItem
from harness.rack.identity import DeviceIdentity
from harness.rack.rack import Rack

__all__ = ["DeviceIdentity", "HostPower", "InventoryItem", "Load", "Outlet", "PowerMeter", "PowerSwitch", "Rack"]
