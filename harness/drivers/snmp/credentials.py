"""SNMP credentials: which versions and protocols rackval accepts, and pysnmp's auth object for them.

Shared by the driver (what it sends with) and the simulated agent (which users it accepts), so the
two can never disagree on what "SHA256" or "AES" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB256_AES,
    CommunityData,
    UsmUserData,
)

AUTH_PROTOCOLS: dict[str, Any] = {
    "SHA": USM_AUTH_HMAC96_SHA,
    "SHA224": USM_AUTH_HMAC128_SHA224,
    "SHA256": USM_AUTH_HMAC192_SHA256,
    "SHA384": USM_AUTH_HMAC256_SHA384,
    "SHA512": USM_AUTH_HMAC384_SHA512,
}
#: AES (RFC 3826, 128-bit) is the interoperable choice. AES192/AES256 are the widely deployed
#: non-standard "Reeder" key extension (pysnmp's USM_PRIV_CFB192/256_AES, net-snmp AES192C/AES256C).
PRIV_PROTOCOLS: dict[str, Any] = {
    "AES": USM_PRIV_CFB128_AES,
    "AES128": USM_PRIV_CFB128_AES,
    "AES192": USM_PRIV_CFB192_AES,
    "AES256": USM_PRIV_CFB256_AES,
}


@dataclass(frozen=True)
class SnmpCredentials:
    """How to authenticate to an agent. v3 is authPriv only, with both protocols named explicitly:
    pysnmp silently picks MD5 + DES when they are left out, and that is never acceptable."""

    version: Literal["2c", "3"]
    community: str | None = None
    user: str | None = None
    auth_key: str | None = None
    priv_key: str | None = None
    auth_protocol: str | None = None  # "SHA" | "SHA256" | ...
    priv_protocol: str | None = None  # "AES" | "AES256" | ...

    def __post_init__(self) -> None:
        if self.version == "2c":
            if not self.community:
                raise ValueError("SNMP v2c needs a community")
            if any((self.user, self.auth_key, self.priv_key, self.auth_protocol, self.priv_protocol)):
                raise ValueError("SNMP v2c takes a community only (v3 fields given)")
        elif self.version == "3":
            if not self.user:
                raise ValueError("SNMP v3 needs a user")
            if self.auth_protocol not in AUTH_PROTOCOLS:
                raise ValueError(f"SNMP v3 auth_protocol must be one of {sorted(AUTH_PROTOCOLS)} "
                                 f"(MD5 and implicit defaults are refused)")
            if self.priv_protocol not in PRIV_PROTOCOLS:
                raise ValueError(f"SNMP v3 priv_protocol must be one of {sorted(PRIV_PROTOCOLS)} "
                                 f"(DES and implicit defaults are refused)")
            for what, key in (("auth_key", self.auth_key), ("priv_key", self.priv_key)):
                if not key or len(key) < 8:
                    raise ValueError(f"SNMP v3 {what} must be at least 8 characters (RFC 3414)")
            if self.community:
                raise ValueError("SNMP v3 takes no community")
        else:
            raise ValueError(f"unsupported SNMP version {self.version!r} (use '2c' or '3')")

    def __repr__(self) -> str:
        if self.version == "2c":
            return "SnmpCredentials(version='2c', community=***)"
        return (f"SnmpCredentials(version='3', user={self.user!r}, auth_protocol={self.auth_protocol!r}, "
                f"priv_protocol={self.priv_protocol!r}, auth_key=***, priv_key=***)")

    __str__ = __repr__

    def auth_data(self) -> CommunityData | UsmUserData:
        """pysnmp's authentication object (built per request; it holds the secrets)."""
        if self.version == "2c":
            return CommunityData(self.community, mpModel=1)
        return UsmUserData(self.user, self.auth_key, self.priv_key,
                           authProtocol=AUTH_PROTOCOLS[self.auth_protocol or ""],
                           privProtocol=PRIV_PROTOCOLS[self.priv_protocol or ""])
