"""One HTTP exchange with a BMC through the DMTF ``redfish`` library, with the library's traps disarmed
and its failures classified.

The library re-sends every method (POST included) ``max_retry`` times, never times out by default,
does not raise on HTTP errors and skips TLS verification unless given a CA file. So it is built here
with ``max_retry=0``, an explicit timeout, ``check_connectivity=False`` and a CA bundle whenever the
URL is https; and a failure without an HTTP answer is a :class:`NoAnswer` that says whether the request
may have reached the BMC (which decides whether a power action may be re-sent).
"""

from __future__ import annotations

import os
import ssl

import redfish
import requests
import urllib3
from redfish.rest.v1 import HttpClient, RestResponse, RetriesExhaustedError
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from harness.drivers.redfish.views import JsonObj
from harness.errors import RedfishError


class NoAnswer(Exception):
    """No HTTP answer; ``maybe_delivered`` is False only when the request certainly never left."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.maybe_delivered = not _never_sent(cause)
        self.tls = _chain_has(cause, (requests.exceptions.SSLError, ssl.SSLError))


def _chain(exc: BaseException | None, depth: int = 0) -> list[object]:
    """The exception, its causes/contexts, args and urllib3 ``reason``s (bounded walk)."""
    if exc is None or depth > 6:
        return []
    out: list[object] = [exc]
    nexts = [exc.__cause__, exc.__context__, getattr(exc, "reason", None), *getattr(exc, "args", ())]
    for nxt in nexts:
        if isinstance(nxt, BaseException) and nxt is not exc:
            out += _chain(nxt, depth + 1)
    return out


def _chain_has(exc: BaseException | None, types: tuple[type, ...]) -> bool:
    return any(isinstance(e, types) for e in _chain(exc))


def _never_sent(exc: BaseException | None) -> bool:
    """Connect refused or connect timeout: the request bytes never reached the BMC."""
    return _chain_has(exc, (requests.exceptions.ConnectTimeout, urllib3.exceptions.NewConnectionError,
                            urllib3.exceptions.ConnectTimeoutError, ConnectionRefusedError,
                            requests.exceptions.InvalidURL, requests.exceptions.URLRequired,
                            requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                            requests.exceptions.InvalidHeader, urllib3.exceptions.LocationParseError))


def plain_uri(uri: str) -> bool:
    """An absolute path without spaces or control characters (what a POST may be sent to)."""
    return uri.startswith("/") and uri.isprintable() and not any(c.isspace() for c in uri)


def system_ca_bundle() -> str:
    """The platform trust store (or certifi's), so https is verified even without a station CA."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return candidate
    return DEFAULT_CA_BUNDLE_PATH


def open_client(base_url: str, username: str, password: str, *, timeout_s: float,
                cafile: str | None) -> HttpClient:
    """The DMTF client for one BMC: no retries, a timeout, no connectivity probe, the given CA.

    How to reach and trust a BMC comes from the station file only: the requests session ignores
    proxies, ``~/.netrc`` and ``REQUESTS_CA_BUNDLE`` from the environment (an inherited CA bundle
    would silently replace the CA the BMC is verified with; netrc is also re-read on every request)."""
    rf = redfish.redfish_client(base_url=base_url, username=username, password=password,
                                timeout=timeout_s, max_retry=0, check_connectivity=False, cafile=cafile)
    session = getattr(rf, "_session", None)
    if session is not None:
        session.trust_env = False
    return rf


def send(rf: HttpClient, bmc: str, method: str, uri: str, *, args: dict[str, str] | None = None,
         body: JsonObj | None = None, headers: dict[str, str] | None = None) -> RestResponse:
    """Exactly one HTTP exchange (the client is built with max_retry=0). No answer -> :class:`NoAnswer`;
    any other failure of the library -> RedfishError naming the BMC and the request."""
    try:
        if method == "GET":
            return rf.get(uri, args=args)
        if method == "POST":
            return rf.post(uri, body=body)
        if method == "DELETE":
            return rf.delete(uri)
        if method == "PATCH":
            return rf.patch(uri, body=body, headers=headers)
        raise ValueError(f"unsupported method {method}")
    except RetriesExhaustedError as exc:
        raise NoAnswer(exc.__cause__ or exc) from exc
    except Exception as exc:  # the library's own failures, never a bare traceback to the caller
        raise RedfishError(bmc, f"{method} {uri}", f"request failed: {type(exc).__name__}: {exc}") from exc
