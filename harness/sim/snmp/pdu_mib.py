"""The MIB of one simulated PDU: every object of its vendor map, read from and written to the twin.

Built from ``harness/drivers/snmp/maps/<vendor>.yaml``, the same file the driver reads, with the
inverse scale and the declared ASN.1 type, so a map that is wrong for the driver is wrong here too.

Switching semantics (APC-like):

* ``off`` opens the relay at once (``twin.set_outlet(pdu, n, False)``).
* ``on`` is a pending command until the twin's relay delay (``timing.outlet_on_delay_s``) has
  passed in simulated time; the pending column reads ``pending`` meanwhile.
* ``reboot`` opens the relay now and closes it ``reboot_off_s`` simulated seconds later (the vendor
  map's ``sim.reboot_off_s``, APC's RebootDuration). The close is an event on the twin's own queue,
  so it happens in simulated time whether or not anyone polls the agent, and any later on/off
  command cancels it (the twin's outlet generation counter).
* Eaton-style delay commands: writing 0 acts now; a positive delay on 'on' closes the relay that many
  simulated seconds later (on the twin's queue, via ``reboot_outlet`` of an open outlet).
* APC ``delayedAllOn``: every outlet switches on after its own ``PowerOnTime`` (writable per outlet).
* Breakers: a branch the twin tripped reads as the vendor says it (Raritan OCP open, Sentry4
  breakerTripped, Eaton breakerOff, APC bank overload); its outlets read off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysnmp.proto import rfc1902
from pysnmp.smi import error as smi_error

from harness.drivers.snmp.mib_objects import EnumSpec, ObjectSpec
from harness.drivers.snmp.vendor_map import VendorMap
from harness.sim.physics import RackTwin
from harness.sim.snmp.mib import CallbackMib, Setter, encode, int_value


class PduMib:
    """Registers one PDU's vendor objects in ``mib`` and carries out the commands written to them."""

    def __init__(self, twin: RackTwin, pdu: str, vmap: VendorMap, mib: CallbackMib) -> None:
        self.twin, self.pdu, self.vmap, self.mib = twin, pdu, vmap, mib
        self.spec = twin.pdu_specs[pdu]
        #: per-outlet power-on delay (s) for the vendor's sequenced power-on (APC PowerOnTime)
        self.on_delay_s: dict[int, int] = {n: 0 for n in range(1, self.spec.outlets + 1)}
        self._build()

    def _reg(self, spec: ObjectSpec, getter: Callable[[], float | int | str], *, setter: Setter | None = None,
             **index: int) -> None:
        digits = spec.digits.sim if spec.digits is not None else 0
        self.mib.register(spec.oid_for(**index), lambda: encode(spec, getter(), digits), setter)
        if spec.digits is not None:
            d = spec.digits
            self.mib.register(d.oid_for(**index), lambda: rfc1902.Integer32(d.sim))

    def _build(self) -> None:
        twin, pdu, vm, spec = self.twin, self.pdu, self.vmap, self.spec
        o, d, ident = vm.outlet, vm.device, vm.identity
        outlets = range(1, spec.outlets + 1)
        for n in outlets:
            self._reg(o.state, lambda n=n: o.state.raw_of(self._state_name(n, o.state)), outlet=n)
            self._register_control(n)
            if o.pending is not None:
                self._reg(o.pending, lambda n=n, p=o.pending: p.raw_of(self._state_name(n, p)), outlet=n)
            self._reg(o.current_a, lambda n=n: twin.outlet_current_a(pdu, n), outlet=n)
            self._reg(o.power_w, lambda n=n: twin.outlet_power_w(pdu, n), outlet=n)
            if o.energy_kwh is not None:
                self._reg(o.energy_kwh, lambda n=n: twin.outlet_energy_kwh(pdu, n), outlet=n)
        phases = range(1, spec.phases + 1)
        for ph in phases:
            self._reg(d.phase_current_a, lambda ph=ph: twin.phase_current_a(pdu, ph), phase=ph)
            if d.phase_voltage_v is not None:
                self._reg(d.phase_voltage_v, lambda: spec.voltage_ln, phase=ph)
            if d.phase_power_w is not None:
                self._reg(d.phase_power_w, lambda ph=ph: sum(
                    twin.outlet_power_w(pdu, n) for n in outlets if twin.outlet_phase(pdu, n) == ph), phase=ph)
        self._reg(d.power_w, lambda: twin.pdu_input_w(pdu))
        if d.energy_kwh is not None:
            self._reg(d.energy_kwh, lambda: sum(twin.outlet_energy_kwh(pdu, n) for n in outlets))
        if d.current_a is not None:
            self._reg(d.current_a, lambda: max(twin.phase_current_a(pdu, ph) for ph in phases))
        if d.num_outlets is not None:
            self._reg(d.num_outlets, lambda: spec.outlets)
        if d.num_phases is not None:
            self._reg(d.num_phases, lambda: spec.phases)
        if vm.breaker is not None:
            for i, branch in enumerate(spec.branches, start=1):
                self._reg(vm.breaker.state, lambda b=branch.name: self._breaker_raw(b), branch=i)
                if vm.breaker.current_a is not None:
                    self._reg(vm.breaker.current_a, lambda b=branch: sum(
                        twin.outlet_current_a(pdu, n) for n in b.outlets if n <= spec.outlets), branch=i)
        if vm.sequence is not None:
            seq = vm.sequence
            for n in outlets:
                self._reg(seq.on_delay_s, lambda n=n: self.on_delay_s[n], setter=self._on_delay_setter(n), outlet=n)
            self._reg(seq.command, lambda: seq.command.raw_of("none") if seq.command.has("none") else 0,
                      setter=self._group_setter())
        self._reg(ident.model, lambda: vm.sim.model)
        self._reg(ident.firmware, lambda: twin.firmware_of(pdu))
        self._reg(ident.serial, lambda: twin.serial_of(pdu))
        self._reg(ident.sys_descr, lambda: f"rackval simulated {vm.sim.model} ({vm.vendor}) {pdu} "
                                           f"{spec.outlets} outlets")
        self._reg(ident.sys_object_id, lambda: vm.sim.sys_object_id)

    # ------------------------------------------------------------------ reads
    def _state_name(self, outlet: int, spec: EnumSpec) -> str:
        """The richest name ``spec`` has for the outlet's relay and pending command."""
        on = self.twin.outlet_is_on(self.pdu, outlet)
        pending = self.twin.outlet_command_pending(self.pdu, outlet)
        if pending:
            names = ["pending_off" if on else "pending_on", "pending"]
        else:
            names = ["idle_on" if on else "idle_off", "idle"]
        names.append("on" if on else "off")
        return next(n for n in names if spec.has(n))

    def _breaker_raw(self, branch: str) -> int:
        state = self.vmap.breaker.state  # type: ignore[union-attr]
        if self.twin.breaker_tripped[(self.pdu, branch)]:
            return state.raw_of("tripped" if state.has("tripped") else "overload")
        return state.raw_of("ok")

    # ------------------------------------------------------------------ commands
    def _register_control(self, outlet: int) -> None:
        control = self.vmap.outlet.control
        twin, pdu = self.twin, self.pdu

        def read() -> rfc1902.Integer32:
            if control.idle_read is not None:
                return rfc1902.Integer32(control.idle_read)
            return rfc1902.Integer32(control.raw_of("on" if twin.outlet_is_on(pdu, outlet) else "off"))

        if control.mode == "value":
            oid = control.oid_for(outlet=outlet)

            def setter(value: Any, idx: int) -> Callable[[], None]:
                command = control.values.get(int_value(value, oid, idx))
                if command is None:
                    raise smi_error.WrongValueError(name=oid, idx=idx)
                return lambda: self._switch(outlet, command)

            self.mib.register(oid, read, setter)
            return
        for command in control.commands:
            oid = control.oid_for(outlet=outlet, command=command)

            def delay_setter(value: Any, idx: int, command: str = command, oid: str = oid) -> Callable[[], None]:
                delay = int_value(value, oid, idx)
                if delay == -1:
                    return lambda: None  # cancel: nothing is ever left pending here but the twin's own
                if delay == control.now:
                    return lambda: self._switch(outlet, command)
                if delay > 0 and command == "on":
                    return lambda: self._delayed_on(outlet, delay)
                raise smi_error.WrongValueError(name=oid, idx=idx)  # delayed off/reboot: not simulated

            self.mib.register(oid, read, delay_setter)

    def _switch(self, outlet: int, command: str) -> None:
        if command == "reboot":
            self.twin.reboot_outlet(self.pdu, outlet, self.vmap.sim.reboot_off_s)
        else:
            self.twin.set_outlet(self.pdu, outlet, command == "on")

    def _delayed_on(self, outlet: int, delay_s: float) -> None:
        """Close an open relay ``delay_s`` simulated seconds from now (a closed one stays closed).

        Uses the twin's public reboot: on an open relay it is exactly 'pending, then on after delay'.
        """
        if not self.twin.outlet_is_on(self.pdu, outlet):
            self.twin.reboot_outlet(self.pdu, outlet, delay_s)

    def _on_delay_setter(self, outlet: int) -> Setter:
        spec = self.vmap.sequence.on_delay_s  # type: ignore[union-attr]
        oid = spec.oid_for(outlet=outlet)

        def setter(value: Any, idx: int) -> Callable[[], None]:
            raw = int_value(value, oid, idx)
            if spec.range is not None and not spec.range[0] <= raw <= spec.range[1]:
                raise smi_error.WrongValueError(name=oid, idx=idx)
            return lambda: self.on_delay_s.__setitem__(outlet, raw)

        return setter

    def _group_setter(self) -> Setter:
        command = self.vmap.sequence.command  # type: ignore[union-attr]
        oid = command.oid_for()

        def setter(value: Any, idx: int) -> Callable[[], None]:
            name = command.values.get(int_value(value, oid, idx))
            if name is None or name == "none":
                raise smi_error.WrongValueError(name=oid, idx=idx)
            return lambda: self._group(name)

        return setter

    def _group(self, name: str) -> None:
        for n in range(1, self.spec.outlets + 1):
            if name == "all_off":
                self.twin.set_outlet(self.pdu, n, False)
            elif name == "all_on":
                self.twin.set_outlet(self.pdu, n, True)
            elif name == "all_on_sequenced":
                delay = self.on_delay_s[n]
                if delay == 0:
                    if not self.twin.outlet_is_on(self.pdu, n):
                        self.twin.set_outlet(self.pdu, n, True)
                elif delay > 0:
                    self._delayed_on(n, delay)
