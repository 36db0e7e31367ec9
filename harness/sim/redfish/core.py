"""What every simulated Redfish service has, whatever hardware it manages: accounts and sessions
(``accounts.py``), the event log with its subscriptions and SEL (``event_log.py``), tasks
(``tasks.py``), the service root and the service-wide routes. The HTTP layer (``http.py``) asks
the :class:`ServiceCore`; the hardware model (a tray, the rack manager) supplies the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from harness.clock import Clock
from harness.sim.redfish.accounts import SESSIONS, AccountService
from harness.sim.redfish.actions import ActionSpec, Setter
from harness.sim.redfish.documents import V1, Body, link, otype
from harness.sim.redfish.event_log import EventService
from harness.sim.redfish.tasks import TaskService


class Model(Protocol):
    """What a hardware model gives the service (see BmcModel, RackManagerModel)."""

    name: str
    role: str
    uuid: str
    manager_uri: str
    routes: dict[str, Callable[[], Body]]
    actions: dict[str, ActionSpec]
    writable: dict[str, dict[str, Setter]]

    def ready(self) -> bool: ...
    def boot_id(self) -> int: ...
    def root_links(self) -> Body: ...
    def odata_entries(self) -> list[tuple[str, str]]: ...
    def events_for(self, kind: str, data: dict[str, object]) -> list[tuple[Body, str]]: ...
    def threshold_sensors(self) -> list[Any]: ...


class ServiceCore:
    """Accounts, sessions, events, tasks of one simulated Redfish service (one lock for all of them)."""

    def __init__(self, model: Model, clock: Clock, *, username: str, password: str,
                 session_timeout_s: float = 1800.0, max_sessions: int = 32,
                 sync: Callable[[], object] = lambda: None) -> None:
        self.model, self.clock = model, clock
        self.lock = threading.RLock()
        self.auth = AccountService(clock, self.lock, username=username, password=password,
                                   session_timeout_s=session_timeout_s, max_sessions=max_sessions)
        self.events = EventService(self.lock, service=model.name, manager_uri=model.manager_uri, sync=sync)
        self.tasks = TaskService(clock, self.lock)
        self._boot_seen = model.boot_id()

    # ------------------------------------------------------------------ liveness
    def forget_if_rebooted(self) -> None:
        """A BMC that rebooted has forgotten its sessions (and its SSE streams)."""
        boot = self.model.boot_id()
        if boot != self._boot_seen:
            self._boot_seen = boot
            self.drop_sessions()

    def drop_sessions(self) -> None:
        """Sessions and SSE streams are gone (the BMC lost power or rebooted)."""
        with self.lock:
            self.auth.evict_sessions()
            self.events.close_streams()

    # ------------------------------------------------------------------ routing
    def service_root(self) -> Body:
        m = self.model
        body: Body = {"@odata.id": f"{V1}/", "@odata.type": otype("ServiceRoot"), "Id": "RootService",
                      "Name": f"{m.name} Redfish service", "RedfishVersion": "1.20.0", "UUID": m.uuid,
                      **m.root_links(),
                      "SessionService": link(f"{V1}/SessionService"), "AccountService": link(f"{V1}/AccountService"),
                      "EventService": link(f"{V1}/EventService"), "Tasks": link(f"{V1}/TaskService"),
                      "Links": {"Sessions": link(SESSIONS)},
                      "ProtocolFeaturesSupported": {
                          "ExpandQuery": {"ExpandAll": False, "Levels": True, "Links": False, "NoLinks": True,
                                          "MaxLevels": 1},
                          "SelectQuery": False, "FilterQuery": False, "OnlyMemberQuery": False,
                          "ExcerptQuery": False}}
        return body

    def routes(self) -> dict[str, Callable[[], Body]]:
        """Service-wide GET routes with a fixed URI (dynamic members are resolved by the HTTP layer)."""
        return {**self.auth.routes(), **self.events.routes(), **self.tasks.routes()}
