"""AccountService and SessionService of one simulated Redfish service: accounts with roles and
privileges, and login sessions with a timeout on the *run's* clock and a session limit.

Session expiry uses simulated time, so under a VirtualClock a session expires at an exact,
repeatable moment and never because the test machine was slow.
"""

from __future__ import annotations

import hmac
import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.clock import Clock
from harness.sim.redfish.actions import ActionError, Setter
from harness.sim.redfish.documents import V1, Body, collection, link, otype

SESSIONS = f"{V1}/SessionService/Sessions"
ACCOUNTS = f"{V1}/AccountService/Accounts"
ROLES = f"{V1}/AccountService/Roles"

ROLE_PRIVILEGES = {
    "Administrator": ["Login", "ConfigureManager", "ConfigureUsers", "ConfigureComponents", "ConfigureSelf"],
    "Operator": ["Login", "ConfigureComponents", "ConfigureSelf"],
    "ReadOnly": ["Login", "ConfigureSelf"],
}


@dataclass
class Account:
    id: str
    user: str
    password: str
    role: str
    enabled: bool = True

    def privileges(self) -> list[str]:
        return ROLE_PRIVILEGES.get(self.role, [])


@dataclass
class Session:
    id: str
    token: str
    account: Account
    last_used: float


class AccountService:
    """Accounts, roles and sessions of one service (account 1 is the administrator it starts with)."""

    def __init__(self, clock: Clock, lock: threading.RLock, *, username: str, password: str,
                 session_timeout_s: float = 1800.0, max_sessions: int = 32) -> None:
        self.clock, self.lock = clock, lock
        self.session_timeout_s = session_timeout_s
        self.max_sessions = max_sessions
        self.accounts: dict[str, Account] = {"1": Account("1", username, password, "Administrator")}
        self.sessions: dict[str, Session] = {}  # token -> session
        self._ids = itertools.count(1)
        self._account_ids = itertools.count(2)

    # ------------------------------------------------------------------ sessions
    def check_password(self, user: str, password: str) -> Account | None:
        for acct in self.accounts.values():
            if acct.enabled and hmac.compare_digest(acct.user.encode(), user.encode()) and \
                    hmac.compare_digest(acct.password.encode(), password.encode()):
                return acct
        return None

    def _expire(self) -> None:
        now = self.clock.now()
        for token in [t for t, s in self.sessions.items() if now - s.last_used > self.session_timeout_s]:
            del self.sessions[token]

    def session_for(self, token: str) -> Session | None:
        with self.lock:
            self._expire()
            session = next((s for t, s in self.sessions.items() if hmac.compare_digest(t, token)), None)
            if session is not None:
                session.last_used = self.clock.now()
            return session

    def create_session(self, user: str, password: str) -> Session:
        with self.lock:
            self._expire()
            acct = self.check_password(user, password)
            if acct is None:
                raise ActionError(401, "NoValidSession")
            if len(self.sessions) >= self.max_sessions:
                raise ActionError(503, "SessionLimitExceeded")
            session = Session(str(next(self._ids)), secrets.token_hex(16), acct, self.clock.now())
            self.sessions[session.token] = session
            return session

    def session_by_id(self, sid: str) -> Session | None:
        with self.lock:
            self._expire()
            return next((s for s in self.sessions.values() if s.id == sid), None)

    def delete_session(self, session: Session) -> None:
        with self.lock:
            self.sessions.pop(session.token, None)

    def evict_sessions(self) -> set[str]:
        """Every session is dropped (fault, reboot, power loss): clients see 401 and must log in again.
        Returns the tokens that were dropped (the ``evict_sessions`` fault knows them when they come back)."""
        with self.lock:
            tokens = set(self.sessions)
            self.sessions.clear()
            return tokens

    def session_body(self, s: Session) -> Body:
        return {"@odata.id": f"{SESSIONS}/{s.id}", "@odata.type": otype("Session"), "Id": s.id,
                "Name": f"Session {s.id}", "UserName": s.account.user}

    def sessions_collection(self) -> Body:
        with self.lock:
            self._expire()
            return collection(SESSIONS, "SessionCollection", "Session Collection",
                              [f"{SESSIONS}/{s.id}" for s in self.sessions.values()])

    def session_service(self) -> Body:
        return {"@odata.id": f"{V1}/SessionService", "@odata.type": otype("SessionService"),
                "Id": "SessionService", "Name": "Session Service", "ServiceEnabled": True,
                "SessionTimeout": int(self.session_timeout_s), "Status": {"State": "Enabled", "Health": "OK"},
                "Sessions": link(SESSIONS)}

    def set_session_timeout(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ActionError(400, "PropertyValueTypeError", repr(value), "SessionTimeout")
        if not 30 <= value <= 86400:
            raise ActionError(400, "PropertyValueOutOfRange", value, "SessionTimeout")
        self.session_timeout_s = float(value)

    # ------------------------------------------------------------------ accounts and roles
    def account_body(self, a: Account) -> Body:
        return {"@odata.id": f"{ACCOUNTS}/{a.id}", "@odata.type": otype("ManagerAccount"), "Id": a.id,
                "Name": f"User account {a.id}", "UserName": a.user, "RoleId": a.role, "Enabled": a.enabled,
                "Locked": False, "AccountTypes": ["Redfish"], "Password": None,
                "Links": {"Role": link(f"{ROLES}/{a.role}")}}

    def create_account(self, body: Body) -> Account:
        user, password, role = body.get("UserName"), body.get("Password"), body.get("RoleId", "ReadOnly")
        for prop, value in (("UserName", user), ("Password", password)):
            if not isinstance(value, str) or not value:
                raise ActionError(400, "PropertyMissing", prop)
        if role not in ROLE_PRIVILEGES:
            raise ActionError(400, "PropertyValueNotInList", str(role), "RoleId")
        with self.lock:
            if any(a.user == user for a in self.accounts.values()):
                raise ActionError(409, "ResourceAlreadyExists", "ManagerAccount", "UserName", user)
            acct = Account(str(next(self._account_ids)), str(user), str(password), str(role))
            self.accounts[acct.id] = acct
            return acct

    def delete_account(self, acct: Account) -> None:
        with self.lock:
            self.accounts.pop(acct.id, None)
            for token in [t for t, s in self.sessions.items() if s.account is acct]:
                del self.sessions[token]

    def account_setters(self, acct: Account) -> dict[str, Setter]:
        def password(value: Any) -> None:
            if not isinstance(value, str) or len(value) < 8:
                raise ActionError(400, "PropertyValueFormatError", "******", "Password")
            acct.password = value

        def role(value: Any) -> None:
            if value not in ROLE_PRIVILEGES:
                raise ActionError(400, "PropertyValueNotInList", str(value), "RoleId")
            acct.role = str(value)

        def enabled(value: Any) -> None:
            if not isinstance(value, bool):
                raise ActionError(400, "PropertyValueTypeError", repr(value), "Enabled")
            acct.enabled = value

        def username(value: Any) -> None:
            if not isinstance(value, str) or not value:
                raise ActionError(400, "PropertyValueFormatError", repr(value), "UserName")
            acct.user = value
        return {"Password": password, "RoleId": role, "Enabled": enabled, "UserName": username}

    def account_service(self) -> Body:
        return {"@odata.id": f"{V1}/AccountService", "@odata.type": otype("AccountService"),
                "Id": "AccountService", "Name": "Account Service", "ServiceEnabled": True,
                "MinPasswordLength": 8, "MaxPasswordLength": 64, "Status": {"State": "Enabled", "Health": "OK"},
                "Accounts": link(ACCOUNTS), "Roles": link(ROLES)}

    def role_body(self, role: str) -> Body:
        return {"@odata.id": f"{ROLES}/{role}", "@odata.type": otype("Role"), "Id": role, "Name": f"{role} role",
                "RoleId": role, "IsPredefined": True, "AssignedPrivileges": ROLE_PRIVILEGES[role]}

    def routes(self) -> dict[str, Callable[[], Body]]:
        """GET routes with a fixed URI (single sessions and accounts are resolved per request)."""
        return {
            f"{V1}/SessionService": self.session_service,
            SESSIONS: self.sessions_collection,
            f"{V1}/AccountService": self.account_service,
            ACCOUNTS: lambda: collection(ACCOUNTS, "ManagerAccountCollection", "Accounts",
                                         [f"{ACCOUNTS}/{i}" for i in self.accounts]),
            ROLES: lambda: collection(ROLES, "RoleCollection", "Roles", [f"{ROLES}/{r}" for r in ROLE_PRIVILEGES]),
            **{f"{ROLES}/{r}": _role_builder(self, r) for r in ROLE_PRIVILEGES},
        }


def _role_builder(service: AccountService, role: str) -> Callable[[], Body]:
    return lambda: service.role_body(role)
