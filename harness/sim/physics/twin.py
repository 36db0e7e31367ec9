"""RackTwin: the one physical model every simulator reads, so every view of a quantity agrees.

A discrete-event model (:mod:`scheduler`). Commands (outlet switched, host reset, load set) and the
transitions they schedule (BMC ready, host On) change the discrete state at known simulated times,
processed in time order. Continuous quantities (power, voltage, lagged temperatures) are closed-form
functions of the last state change and the time asked, and noise is a pure function of (seed, source,
time). A reading therefore never depends on who asked first or how often: same seed, same readings.

This class is the facade the simulators and tests use; the work is done by one object per subsystem:
:class:`Hosts` (BMC and host state machines), :class:`Electrical` (outlets, breakers, PSUs, busbar,
load), :class:`Thermal` (temperatures, fans, coolant), :class:`Readings` (noisy values at now).
A command runs under the lock at now, then breakers judge the new currents and every lag heads for
the new steady state, and the threshold watchers are told (:meth:`_changed`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness.clock import Clock
from harness.config.profile import Profile
from harness.sim.faults.log import FaultLog
from harness.sim.physics.curves import Lagged
from harness.sim.physics.devices import BmcState, HostState, PduDevice, Psu, Tray, TraySpec
from harness.sim.physics.electrical import PDU_OVERHEAD_W, SOFT_START_S, Electrical
from harness.sim.physics.hosts import RESET_TYPES, Hosts
from harness.sim.physics.noise import uniform
from harness.sim.physics.params import Physics, misfits, physics_for
from harness.sim.physics.readings import Readings
from harness.sim.physics.scheduler import Listener, Scheduler
from harness.sim.physics.signals import exact_signals, exact_sources
from harness.sim.physics.thermal import LeakState, Thermal


class RackTwin:
    """The simulated rack. Thread-safe: simulators on several threads read it at ``clock.now()``.

    ``physics`` defaults to the SKU's (:func:`harness.sim.physics.params.physics_for`)."""

    SOFT_START_S = SOFT_START_S
    PDU_OVERHEAD_W = PDU_OVERHEAD_W

    def __init__(self, profile: Profile, clock: Clock, *, seed: int = 0, serial: str = "SIM-0001",
                 physics: Physics | None = None) -> None:
        if physics is None:
            physics = physics_for(profile)
        elif problems := misfits(physics, profile):
            keys, problem = problems[0]
            raise ValueError(f"physics {'.'.join(map(str, keys))}: {problem}")
        self.profile, self.physics, self.clock, self.seed, self.serial = profile, physics, clock, seed, serial
        self.scheduler = Scheduler(clock)
        self.fault_log = FaultLog(clock)  # what each injected fault did, when it acted (harness/sim/faults/log.py)
        self._lock = self.scheduler.lock
        self.trays: dict[str, Tray] = {}
        for group in profile.trays:
            spec = TraySpec.of(group, physics.tray(group))
            for name in group.names():
                self.trays[name] = Tray(name, spec, temp=Lagged(spec.tau_s, physics.thermal.coolant_supply_c))
        self.hosts = Hosts(self.scheduler, self.trays, physics, seed, self.fault_log)
        self.electrical = Electrical(self.scheduler, self.hosts, profile, physics)
        self.thermal = Thermal(self.scheduler, self.electrical, profile, physics)
        self.readings = Readings(self.scheduler, self.electrical, self.thermal, seed, self.fault_log)
        self.psus: dict[str, Psu] = self.electrical.psus
        self.pdu_specs: dict[str, PduDevice] = self.electrical.pdu_specs
        self.feeds: dict[str, tuple[str, int]] = self.electrical.feeds  # psu name -> (pdu, outlet)
        self.psu_failed: set[str] = self.electrical.psu_failed
        self.breaker_tripped: dict[tuple[str, str], bool] = self.electrical.breaker_tripped
        self.listeners: list[Listener] = self.scheduler.listeners
        # called (under the lock) with the time of every state change, after the lagged signals were
        # retargeted: a threshold watch re-reads exact_sources() there (see harness/sim/redfish/thresholds.py)
        self.watchers: list[Callable[[float], None]] = []
        self.scheduler.before_advance = self.electrical.accumulate_energy
        self.scheduler.after_event = self._retarget

    # ------------------------------------------------------------------ state the simulators read
    @property
    def busbar_live(self) -> bool:
        return self.electrical.busbar_live

    @property
    def eload_on(self) -> bool:
        return self.electrical.eload_on

    @property
    def eload_current_a(self) -> float:
        return self.electrical.eload_current_a

    @property
    def coolant_return(self) -> Lagged:
        return self.thermal.coolant_return

    # ------------------------------------------------------------------ change machinery
    def _retarget(self, t: float) -> None:
        self.thermal.retarget(t)
        for watcher in self.watchers:
            watcher(t)

    def _changed(self) -> None:
        """After a command: breakers judge the new currents, lagged signals head for the new steady state."""
        self.electrical.check_breakers()
        self._retarget(self.scheduler.t)

    @contextmanager
    def _command(self) -> Iterator[None]:
        """A command: under the lock, at now; when it returns (not when it raises), :meth:`_changed`."""
        with self._lock:
            self.scheduler.now()
            yield
            self._changed()

    def sync(self) -> float:
        """Process every transition up to the clock's now (each one tells the watchers); returns now."""
        with self._lock:
            return self.scheduler.now()

    def _acted(self, fault: str, device: str, effect: str) -> None:
        """A fault method did its work (caller holds the lock): into the station's fault log."""
        self.fault_log.acted(f"twin.{fault}", device, effect, at_s=self.scheduler.t)

    def after(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` (under the twin's lock) ``delay_s`` simulated seconds from now: for simulators
        whose devices do things later (a workload that ends, a relay that closes)."""
        with self._lock:
            self.scheduler.now()

            def run() -> None:
                action()
                self._changed()

            self.scheduler.schedule(delay_s, run)

    def start_powered(self) -> None:
        """Put the rack straight into 'AC on, BMCs ready, hosts per restore policy' at t=0."""
        with self._lock:
            self.electrical.start_powered()
            self.hosts.start_powered()
            self.thermal.start_powered()

    # ------------------------------------------------------------------ power commands and faults
    def set_outlet(self, pdu: str, outlet: int, on: bool) -> None:
        """Switch a PDU outlet relay; off acts at once, on after the relay delay."""
        with self._command():
            self.electrical.set_outlet(pdu, outlet, on)

    def reboot_outlet(self, pdu: str, outlet: int, off_s: float) -> None:
        """Outlet off now and back on ``off_s`` simulated seconds later (a PDU's reboot command),
        unless another command to the outlet supersedes it."""
        with self._command():
            self.electrical.reboot_outlet(pdu, outlet, off_s)

    def force_trip(self, pdu: str, branch: str) -> None:
        """Fault: a breaker trips (a short, or a worn breaker) whatever the current."""
        with self._command():
            self.electrical.force_trip(pdu, branch)
            self._acted("force_trip", f"{pdu}.{branch}", "breaker tripped")

    def reset_breaker(self, pdu: str, branch: str) -> None:
        """Close a tripped breaker; its outlets stay off until switched on."""
        with self._lock:
            self.scheduler.now()
            self.electrical.reset_breaker(pdu, branch)

    def breaker_of(self, pdu: str, outlet: int) -> str | None:
        return self.electrical.breaker_of(pdu, outlet)

    def fail_psu(self, psu: str, failed: bool = True) -> None:
        with self._command():
            self.electrical.fail_psu(psu, failed)
            if failed:
                self._acted("fail_psu", psu, "PSU failed")

    def set_eload(self, *, current_a: float | None = None, input_on: bool | None = None) -> None:
        with self._command():
            self.electrical.set_eload(current_a, input_on)

    def efficiency(self, load_fraction: float) -> float:
        return self.electrical.efficiency(load_fraction)

    # ------------------------------------------------------------------ host commands and faults
    def host_reset(self, tray_name: str, reset_type: str) -> None:
        """Apply a Redfish ResetType to a tray's host. Raises if the BMC cannot act now."""
        if reset_type not in RESET_TYPES:
            raise ValueError(f"unsupported ResetType {reset_type!r}")
        with self._command():
            self.hosts.reset(self.trays[tray_name], reset_type)

    def set_utilization(self, tray_name: str, utilization: float) -> None:
        with self._command():
            self.hosts.set_utilization(self.trays[tray_name], utilization)

    def set_power_cap(self, tray_name: str, watts: float | None) -> None:
        with self._command():
            self.hosts.set_power_cap(self.trays[tray_name], watts)

    def set_target_power(self, tray_name: str, watts: float) -> None:
        """A DCGM-style targeted-power workload: utilization that draws ``watts`` (clamped to the tray's range)."""
        self.set_utilization(tray_name, self.hosts.utilization_for(self.trays[tray_name], watts))

    def set_fail_to_boot(self, tray_name: str, failed: bool = True) -> None:
        """Fault: the tray's host never reaches On after its next power-on."""
        with self._lock:  # it acts at the next power-on (Hosts.power_on logs it then)
            self.scheduler.now()
            self.trays[tray_name].fail_to_boot = failed

    # ------------------------------------------------------------------ thermal faults
    def fail_fan(self, tray_name: str, fan: int, failed: bool = True) -> None:
        """Fault: fan ``fan`` (1-based) of a tray stops."""
        with self._command():
            self.thermal.fail_fan(self.trays[tray_name], fan, failed)
            if failed:
                self._acted("fail_fan", f"{tray_name}.fan{fan}", "fan stopped")

    def fail_pump(self, pump: str, failed: bool = True) -> None:
        with self._command():
            self.thermal.fail_pump(pump, failed)
            if failed:
                self._acted("fail_pump", pump, "pump stopped")

    def set_leak(self, detector: str, state: LeakState) -> None:
        with self._lock:
            self.scheduler.now()
            self.thermal.set_leak(detector, state)
            if state != "OK":
                self._acted("set_leak", detector, f"leak detector reads {state}")

    def set_sensor_fault(self, key: str, value: float | None) -> None:
        """Fault: sensor ``tray/name`` stuck at ``value`` (NaN = unavailable); None clears it. It acts when
        the sensor is read (``Readings`` logs it then)."""
        with self._lock:
            if value is None:
                self.readings.sensor_faults.pop(key, None)
            else:
                self.readings.sensor_faults[key] = value

    # ------------------------------------------------------------------ readings (at clock.now())
    def bmc_state(self, tray: str) -> BmcState:
        return self.readings.bmc_state(tray)

    def bmc_ready(self, tray: str) -> bool:
        return self.bmc_state(tray) == "Ready"

    def host_state(self, tray: str) -> HostState:
        return self.readings.host_state(tray)

    def host_os_running(self, tray_name: str) -> bool:
        """Whether the tray's host OS answers (SSH): host On and booted."""
        return self.readings.host_os_running(tray_name)

    def tray_info(self, tray: str) -> dict[str, object]:
        return self.readings.tray_info(tray)

    def state_snapshot(self) -> dict[str, object]:
        """Discrete state, for tests and the safe-state readback of simulated runs."""
        return self.readings.state_snapshot()

    def tray_power_w(self, tray: str) -> float:
        return self.readings.tray_power_w(tray)

    def tray_temperatures_c(self, tray: str) -> dict[str, float]:
        """Hottest-component, per-GPU and inlet temperatures of a tray."""
        return self.readings.tray_temperatures_c(tray)

    def fan_speeds_rpm(self, tray_name: str) -> dict[str, float]:
        return self.readings.fan_speeds_rpm(tray_name)

    def busbar_v(self) -> float:
        return self.readings.busbar_v()

    def eload_reading(self) -> tuple[float, float, float]:
        """(volts, amps, watts) at the electronic load's terminals."""
        return self.readings.eload_reading()

    def psu_reading(self, psu: str) -> dict[str, float]:
        return self.readings.psu_reading(psu)

    def shelf_output_w(self, shelf: str) -> float:
        return self.readings.shelf_output_w(shelf)

    def rack_dc_power_w(self) -> float:
        return self.readings.rack_dc_power_w()

    def outlet_is_on(self, pdu: str, outlet: int) -> bool:
        return self.readings.outlet_is_on(pdu, outlet)

    def outlet_command_pending(self, pdu: str, outlet: int) -> bool:
        """True while an 'on' command waits for its relay delay."""
        return self.readings.outlet_command_pending(pdu, outlet)

    def outlet_power_w(self, pdu: str, outlet: int) -> float:
        return self.readings.outlet_power_w(pdu, outlet)

    def outlet_current_a(self, pdu: str, outlet: int) -> float:
        return self.readings.outlet_current_a(pdu, outlet)

    def outlet_energy_kwh(self, pdu: str, outlet: int) -> float:
        return self.readings.outlet_energy_kwh(pdu, outlet)

    def outlet_phase(self, pdu: str, outlet: int) -> int:
        return self.readings.outlet_phase(pdu, outlet)

    def phase_current_a(self, pdu: str, phase: int) -> float:
        return self.readings.phase_current_a(pdu, phase)

    def pdu_input_w(self, pdu: str) -> float:
        """What the PDU's inlet carries (the power analyzer's view)."""
        return self.readings.pdu_input_w(pdu)

    def analyzer_reading(self, pdu: str) -> dict[str, float]:
        """Volts (line-neutral), amps, watts, power factor at a PDU inlet."""
        return self.readings.analyzer_reading(pdu)

    def coolant(self) -> dict[str, float]:
        """CDU secondary loop: supply/return temperature, flow, pressures, pump and leak states."""
        return self.readings.coolant()

    def pump_states(self) -> dict[str, bool]:
        return self.readings.pump_states()

    def leak_states(self) -> dict[str, str]:
        return self.readings.leak_states()

    def thermocouple_points(self) -> dict[str, float]:
        """What a thermocouple DAQ on the rack reads: coolant supply/return, air inlet and exhaust."""
        return self.readings.thermocouple_points()

    # ------------------------------------------------------------------ exact curves (threshold watch)
    def exact_signals(self) -> dict[str, tuple[str, float, float]]:
        """How each quantity a BMC judges against thresholds follows a source of :meth:`exact_sources`
        (see :func:`harness.sim.physics.signals.exact_signals`)."""
        return exact_signals(self.thermal)

    def exact_sources(self) -> dict[str, tuple[object, ...]]:
        """Each source's noise-free curve from the last state change on, as parameters for
        :func:`harness.sim.physics.curves.source_curve`."""
        with self._lock:
            return exact_sources(self.thermal)

    # ------------------------------------------------------------------ identity
    def serial_of(self, what: str) -> str:
        code = int(uniform(self.seed, f"serial|{what}", 0, 10**8))
        return f"{self.serial}-{what.upper().replace('.', '-')}-{code:08d}"

    def firmware_of(self, what: str) -> str:
        return "1.4.2" if "psu" in what else "25.06.3"
