"""OCM Addresses (draft-ietf-ocm-open-cloud-mesh §"OCM Address"): ``identifier@host[:port]``.

The identifier is opaque and kept byte-exact; the host is lower-cased, may carry a port and may be
an IPv6 literal in brackets. Peers that put a scheme in front of the host (seen from oCIS) are
tolerated.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from opengeomesh.errors import InvalidInput

_REG_NAME = re.compile(
    r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*$"
)


def normalise_host(text: str, field: str = "host") -> str:
    """A server's ``host[:port]`` in canonical form; raises :class:`InvalidInput` if malformed."""
    value = text.strip()
    for scheme in ("https://", "http://"):
        if value.lower().startswith(scheme):
            value = value[len(scheme) :]
    value = value.rstrip("/").lower()
    value = value.removesuffix(":443")  # the default https port names the same server
    if not value or "/" in value or "@" in value or "?" in value or "#" in value:
        raise InvalidInput(field, f"{text!r} is not a host[:port]")
    host, port = value, ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise InvalidInput(field, f"{text!r} has an unclosed IPv6 literal")
        host, rest = value[1:end], value[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidInput(field, f"{text!r} is not a valid IPv6 literal") from None
        host = f"[{host}]"
        if rest:
            if not rest.startswith(":"):
                raise InvalidInput(field, f"{text!r} is not a host[:port]")
            port = rest[1:]
    elif ":" in value:
        host, port = value.rsplit(":", 1)
        host = host.removesuffix(".")
        if not _REG_NAME.match(host):
            raise InvalidInput(field, f"{text!r} is not a host[:port]")
    else:
        host = host.removesuffix(".")  # the root label: "example.org." is "example.org"
        if not _REG_NAME.match(host):
            raise InvalidInput(field, f"{text!r} is not a valid host name")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidInput(field, f"{text!r} has an invalid port")
        return f"{host}:{int(port)}"
    return host


def host_of_url(url: str) -> str:
    """The ``host[:port]`` of an absolute URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("url", f"{url!r} is not an absolute http(s) URL")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    default = {"http": ":80", "https": ":443"}[parts.scheme]
    return normalise_host(netloc.removesuffix(default))


@dataclass(frozen=True, slots=True)
class OcmAddress:
    """A user or group at an OCM server."""

    identifier: str
    host: str

    @classmethod
    def parse(cls, text: str, field: str = "address") -> OcmAddress:
        """Split on the last ``@``; the identifier must not be empty."""
        identifier, sep, host = text.strip().rpartition("@")
        if not sep or not identifier:
            raise InvalidInput(field, f"{text!r} is not an OCM address (identifier@host)")
        return cls(identifier=identifier, host=normalise_host(host, field))

    def __str__(self) -> str:
        return f"{self.identifier}@{self.host}"
