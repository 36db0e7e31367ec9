"""Serial interlock: the rack on the bench must be the rack the operator scanned, checked before
anything is powered.

How it is checked, best evidence first:

1. a ``rack_manager`` BMC: its chassis ``SerialNumber`` must equal the given serial;
2. a simulated station (``--sim`` or a ``rackval sim`` station file) without a rack manager: every
   tray chassis serial must start with ``<serial>-`` (the simulator derives tray serials from the rack
   serial; real trays carry their own serials, so this rule is never applied to hardware);
3. otherwise the serial cannot be verified: the run goes on only when the operator accepts that
   (``--yes`` or an interactive yes), and the run records "not verifiable".

A mismatch is bad input (exit 2): nothing has been switched, the operator scans again.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import ConfigError
from harness.rack import DeviceIdentity


def check_serial(serial: str, identities: list[DeviceIdentity], *, simulated: bool, accept_unverified: bool,
                 confirm: Callable[[str], bool] | None = None) -> str:
    """Return how the serial was verified (recorded with the run); raise ConfigError to refuse."""
    managers = [d for d in identities if d.kind == "rack_manager"]
    if managers:
        for d in managers:
            if d.serial == serial:
                return f"verified: rack_manager {d.name} chassis SerialNumber {d.serial}"
        found = ", ".join(f"{d.name}: {d.serial or '(none reported)'}" for d in managers)
        raise ConfigError("command line", None, "--rack-serial",
                          f"{serial!r} does not match the rack's SerialNumber ({found}); refusing before any "
                          "power action")
    # trays whose BMC did not answer report no serial: judged on the ones that did, any mismatch refuses
    trays = [d for d in identities if d.kind in ("compute_tray", "switch_tray") and d.serial]
    if simulated and trays:
        wrong = [d for d in trays if not d.serial.startswith(f"{serial}-")]
        if not wrong:
            return f"verified: simulated tray serials derive from {serial} ({len(trays)} trays read)"
        raise ConfigError("command line", None, "--rack-serial",
                          f"{serial!r} does not match the simulated rack (tray {wrong[0].name} is {wrong[0].serial}); "
                          "refusing before any power action")
    question = "the station has no rack_manager BMC: the rack serial cannot be verified"
    if accept_unverified:
        return f"not verifiable: {question} (accepted with --yes)"
    if confirm is not None:
        if confirm(f"{question}. Is this rack {serial}?"):
            return f"not verifiable: {question} (confirmed by the operator)"
        raise ConfigError("command line", None, "--rack-serial",
                          f"{question}, and the operator did not confirm that this is rack {serial}; refusing before "
                          "any power action")
    raise ConfigError("command line", None, "--rack-serial",
                      f"{question}; pass --yes to run anyway (recorded as 'not verifiable')")
