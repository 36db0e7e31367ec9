"""The step kinds a plan may use, one module each (documented in docs/steps.md), and the registry of
them that the plan loader and the runner are given (:data:`STEP_KINDS`)."""

from __future__ import annotations

from harness.stepkit.registry import StepKinds
from harness.steps.ac_cycle import AcCycle
from harness.steps.dc_cycle import DcCycle
from harness.steps.group import Group
from harness.steps.inventory import Inventory
from harness.steps.leak_check import LeakCheck
from harness.steps.load_sweep import LoadSweep
from harness.steps.power_agreement import PowerAgreement
from harness.steps.power_cap import PowerCap
from harness.steps.psu_redundancy import PsuRedundancy
from harness.steps.sensor_sanity import SensorSanity
from harness.steps.thermal_soak import ThermalSoak

STEP_KINDS = StepKinds([AcCycle(), DcCycle(), LoadSweep(), SensorSanity(), ThermalSoak(), PowerAgreement(),
                        PsuRedundancy(), Inventory(), LeakCheck(), PowerCap(), Group()])
