"""RedfishSession: one BMC's HTTP conversation: GETs that survive a busy or rebooting BMC, a login
session opened on demand, and errors that name the BMC and the request.

Only GETs are retried (no answer, 502/503/504), with backoff on the run's Clock and ``Retry-After``
honoured; the first 401 (never logged in, session expired or evicted, BMC rebooted) triggers one
login and one retry, so callers need not log in first; they should still :meth:`close` (BMCs have
few session slots). Anything that changes the BMC is sent by the caller with :meth:`send`, once.

The session also keeps what it learnt of the service: the service root (kept only if it looks like
one, so a garbled answer does not stick) and the URIs the client discovered by following links
(forgotten at every login and whenever one answers 404).
"""

from __future__ import annotations

import email.utils
import json
import logging
from urllib.parse import urlparse

from redfish.rest.v1 import RestResponse

from harness.clock import Clock
from harness.drivers.redfish.transport import NoAnswer, open_client, send, system_ca_bundle
from harness.drivers.redfish.views import JsonObj, extended_messages, link
from harness.errors import RedfishError, RedfishUnreachable

log = logging.getLogger(__name__)

ROOT = "/redfish/v1/"
DEFAULT_SESSIONS = "/redfish/v1/SessionService/Sessions"
RETRY_STATUSES = (502, 503, 504)
MAX_RETRY_AFTER_S = 60.0


class RedfishSession:
    """HTTP exchanges with one BMC. Not thread-safe (neither is the DMTF client)."""

    def __init__(self, name: str, base_url: str, username: str, password: str, *, timeout_s: float,
                 ca_file: str | None, clock: Clock, get_retries: int) -> None:
        self.name, self.base_url = name, base_url
        self._username, self._password = username, password
        self._clock = clock
        self._get_retries = max(0, get_retries)
        cafile = ca_file
        if cafile is None and base_url.startswith("https://"):
            cafile = system_ca_bundle()  # the library would otherwise send verify=False
        self.verify: str | bool = cafile or True  # what other connections to this BMC (SSE) verify with
        self.rf = open_client(base_url, username, password, timeout_s=timeout_s, cafile=cafile)
        self._logged_in = False
        self._session_uri: str | None = None
        self._root: JsonObj | None = None
        self.uris: dict[str, str] = {}  # discovered by following links: name -> URI

    # ------------------------------------------------------------------ exchanges
    def send(self, method: str, uri: str, *, args: dict[str, str] | None = None,
             body: JsonObj | None = None, headers: dict[str, str] | None = None) -> RestResponse:
        """Exactly one HTTP exchange; no answer -> :class:`NoAnswer` (see ``transport.py``)."""
        return send(self.rf, self.name, method, uri, args=args, body=body, headers=headers)

    def unreachable(self, method: str, uri: str, na: NoAnswer) -> RedfishError:
        """The error for a request that got no answer: a TLS failure is not transient, the rest is."""
        cause = f"{type(na.cause).__name__}: {na.cause}" if na.cause else "no answer"
        if na.tls:
            return RedfishError(self.name, f"{method} {uri}",
                                f"TLS failure talking to BMC {self.name} at {self.base_url} (certificate not "
                                f"trusted: wrong or missing ca_file?): {cause}")
        return RedfishUnreachable(self.name, f"{method} {uri}", f"no HTTP answer ({cause})")

    def body(self, method: str, uri: str, resp: RestResponse) -> JsonObj:
        """The answer as a JSON object; garbage -> RedfishError naming the request."""
        status = resp.status
        try:
            raw = resp.text or ""
        except Exception as exc:
            raise RedfishError(self.name, f"{method} {uri}", f"unreadable body: {exc}", status=status) from exc
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise RedfishError(self.name, f"{method} {uri}", f"invalid JSON in HTTP {status} answer: {raw[:80]!r}",
                               status=status) from None
        if not isinstance(data, dict):
            raise RedfishError(self.name, f"{method} {uri}", f"expected a JSON object, got {type(data).__name__}",
                               status=status)
        return data

    def http_error(self, method: str, uri: str, resp: RestResponse) -> RedfishError:
        """An HTTP error status as an error carrying the BMC's ExtendedInfo (503: transient)."""
        status = resp.status
        cls = RedfishUnreachable if status == 503 else RedfishError
        return cls(self.name, f"{method} {uri}", f"HTTP {status}", status=status,
                   extended_info=extended_messages(_safe_json(resp)))

    def _retry_after(self, resp: RestResponse) -> float | None:
        value = resp.getheader("Retry-After")
        if not isinstance(value, str) or not value.strip():
            return None
        value = value.strip()
        try:
            seconds = float(value) if value.isdigit() else None
            if seconds is None:
                when = email.utils.parsedate_to_datetime(value)
                seconds = (when - self._clock.wall()).total_seconds()
        except (TypeError, ValueError, OverflowError):
            return None
        return min(MAX_RETRY_AFTER_S, max(0.0, seconds))

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(8.0, 0.5 * 2 ** (attempt - 1))

    def get(self, uri: str, args: dict[str, str] | None = None, *, relogin: bool = True) -> JsonObj:
        """GET with retries on no-answer/502/503/504 and one re-login on 401."""
        attempt, relogged = 0, False
        while True:
            delay: float | None = None
            try:
                resp = self.send("GET", uri, args=args)
            except NoAnswer as na:
                err = self.unreachable("GET", uri, na)
                if not isinstance(err, RedfishUnreachable):
                    raise err from na.cause
            else:
                if 200 <= resp.status < 300:
                    return self.body("GET", uri, resp)
                if resp.status == 401 and relogin and not relogged:
                    relogged = True  # expired/evicted session, rebooted BMC, or never logged in
                    log.info("%s: GET %s -> 401, logging in", self.name, uri)
                    self.relogin()
                    continue
                err = self.http_error("GET", uri, resp)
                if resp.status == 404:  # a URI discovered from a garbled answer (or moved): find it again
                    self.uris = {k: v for k, v in self.uris.items() if v != uri}
                if resp.status not in RETRY_STATUSES:
                    raise err
                delay = self._retry_after(resp)
            if attempt >= self._get_retries:
                raise err
            attempt += 1
            self._clock.sleep(delay if delay is not None else self._backoff(attempt))

    def is_up(self) -> bool:
        """True if the service root answers 200 within the timeout; never raises."""
        try:
            return self.send("GET", ROOT).status == 200
        except Exception:
            return False

    # ------------------------------------------------------------------ the service root
    def service_root(self) -> JsonObj:
        if self._root is None:
            return self.read_root()
        return self._root

    def read_root(self) -> JsonObj:
        """GET the service root; kept only if it looks like one (a garbled answer must not stick)."""
        root = self.get(ROOT, relogin=False)
        self._root = root if (link(root, "Systems") or link(root, "Chassis")) else None
        return root

    def forget_root(self) -> None:
        """Read the service root again next time (it lacked what the caller looked for)."""
        self._root = None

    # ------------------------------------------------------------------ login session
    def login(self) -> None:
        """Open a Redfish session (POST to the root's Links.Sessions)."""
        if self._logged_in:
            self.logout()
        self._forget_session()
        root = self.read_root()
        self.uris.clear()
        login_url = link(root, "Links", "Sessions") or DEFAULT_SESSIONS
        request = f"POST {login_url}"
        try:
            resp = self.send("POST", login_url, body={"UserName": self._username, "Password": self._password})
        except NoAnswer as na:
            raise self.unreachable("POST", login_url, na) from na.cause
        if resp.status == 401:
            raise RedfishError(self.name, request, "login refused: invalid credentials", status=401,
                               extended_info=extended_messages(_safe_json(resp)))
        if resp.status not in (200, 201, 202, 204):
            raise self.http_error("POST", login_url, resp)
        token = resp.getheader("X-Auth-Token")
        if not isinstance(token, str) or not token:
            raise RedfishError(self.name, request, f"HTTP {resp.status} but no X-Auth-Token", status=resp.status)
        location = resp.getheader("Location") or link(_safe_json(resp))
        self._session_uri = urlparse(location).path if isinstance(location, str) and location else None
        if self._session_uri is None:
            log.warning("%s: session created without a Location; logout will not be able to delete it", self.name)
        self.rf.set_session_key(token)
        self.rf.set_session_location(self._session_uri)
        self._logged_in = True

    def session_token(self) -> str:
        """The current session token, logging in first if needed (for side connections such as SSE)."""
        token = self.rf.get_session_key() if self._logged_in else None
        if not token:
            self.login()
            token = self.rf.get_session_key()
        return str(token)

    def relogin(self) -> None:
        """A fresh session after a 401 (the old one expired, was evicted or died with a BMC reboot)."""
        self._forget_session()
        self.login()

    def _forget_session(self) -> None:
        self._logged_in = False
        self._session_uri = None
        self.rf.set_session_key(None)
        self.rf.set_session_location(None)

    def logout(self) -> None:
        """Delete the session; never raises (a BMC has few session slots, so always try)."""
        if not self._logged_in:
            return
        uri = self._session_uri
        try:
            if uri:
                resp = self.send("DELETE", uri)
                if resp.status not in (200, 202, 204):
                    log.warning("%s: logout DELETE %s -> HTTP %s", self.name, uri, resp.status)
        except Exception as exc:
            log.warning("%s: logout failed: %s", self.name, exc)
        finally:
            self._forget_session()

    def close(self) -> None:
        """Log out and release the HTTP connections."""
        self.logout()
        try:
            self.rf._session.close()
        except Exception as exc:
            log.warning("%s: closing HTTP session failed: %s", self.name, exc)


def _safe_json(resp: RestResponse) -> object:
    try:
        return json.loads(resp.text or "")
    except Exception:
        return None
