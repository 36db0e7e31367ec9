"""A BMC's system event log (SEL) and clock, read through Redfish for the event monitor.

Found by following links (service root -> Managers -> the manager's LogServices -> the log whose
``LogEntryType`` is SEL, or Id "SEL"); the entries URI is cached per client. Entries are typed
(:class:`SelEntry`); an entry with a missing or unparsable ``Created`` keeps ``created=None`` rather
than raising. The manager's ``DateTime`` gives the BMC's clock, so a caller can place entries on its
own time line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from harness.drivers.redfish.client import BmcClient
from harness.drivers.redfish.views import link, member_uris, path, text
from harness.errors import RedfishError


@dataclass(frozen=True)
class SelEntry:
    """One SEL entry (LogEntry) as the event monitor judges it."""

    bmc: str
    entry_id: str
    created: datetime | None
    severity: str | None
    message_id: str
    message: str
    args: tuple[str, ...]
    origin: str | None

    @property
    def key(self) -> str:
        """``LeakDetectedCritical`` for ``Environmental.1.4.0.LeakDetectedCritical``."""
        return self.message_id.rsplit(".", 1)[-1]


def parse_time(value: object) -> datetime | None:
    s = text(value)
    if not s:
        return None
    try:
        dt = datetime.fromisoformat(s)  # Python 3.11 reads the Z suffix
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _manager_uri(client: BmcClient) -> str:
    uris = member_uris(client.get_json(link(client.service_root(), "Managers") or "/redfish/v1/Managers"))
    if not uris:
        raise RedfishError(client.name, "GET Managers", "no manager: no SEL or clock to read")
    return uris[0]


def bmc_clock(client: BmcClient) -> datetime | None:
    """The BMC's own clock (Manager.DateTime), or None if it does not give one."""
    return parse_time(path(client.get_json(_manager_uri(client)), "DateTime"))


def sel_entries_uri(client: BmcClient, cache: dict[str, str]) -> str | None:
    """The SEL's Entries URI (None when the BMC has no SEL), discovered once per client."""
    if client.name in cache:
        return cache[client.name] or None
    found = ""
    services = link(client.get_json(_manager_uri(client)), "LogServices")
    if services:
        for uri, body in client.members(services):
            if text(path(body, "LogEntryType")) == "SEL" or text(path(body, "Id")) == "SEL":
                found = link(body, "Entries") or f"{uri}/Entries"
                break
    cache[client.name] = found
    return found or None


def read_sel(client: BmcClient, entries_uri: str) -> list[SelEntry]:
    """Every entry of the SEL (inline members, ``$expand`` where offered, else one GET per entry)."""
    out = []
    for _, m in client.members(entries_uri):
        args = path(m, "MessageArgs")
        out.append(SelEntry(client.name, text(path(m, "Id")) or "", parse_time(path(m, "Created")),
                            text(path(m, "Severity")), text(path(m, "MessageId")) or "unknown",
                            text(path(m, "Message")) or "",
                            tuple(str(a) for a in args) if isinstance(args, list) else (),
                            link(m, "Links", "OriginOfCondition")))
    return out
