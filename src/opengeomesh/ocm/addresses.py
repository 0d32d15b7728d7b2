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

_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_REG_NAME = re.compile(
    r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*$"
)


def normalise_host(text: str, field: str = "host") -> str:
    """A server's ``host[:port]`` in its one canonical spelling; raises :class:`InvalidInput`.

    Lower case, no trailing dot, no default https port, IP literals in their standard form
    (an IPv4-mapped IPv6 literal becomes the IPv4 address), so that a server cannot slip past a
    block by spelling its name another way. Numeric hosts must be dotted-quad IPv4.
    """
    value = text.strip()
    for scheme in ("https://", "http://"):
        if value.lower().startswith(scheme):
            value = value[len(scheme) :]
    value = value.rstrip("/").lower()
    if not value or not value.isascii() or any(c in value for c in "/@?#%\\ "):
        raise InvalidInput(field, f"{text!r} is not a host[:port]")
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise InvalidInput(field, f"{text!r} has an unclosed IPv6 literal")
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            raise InvalidInput(field, f"{text!r} is not a host[:port]")
        port = rest[1:]
        host = _ip_literal(host, text, field)
    else:
        host, _, port = value.partition(":")
        if ":" in port:
            raise InvalidInput(field, f"{text!r}: put an IPv6 address in brackets")
        host = host.removesuffix(".")  # the root label: "example.org." is "example.org"
        if all(_NUMERIC_LABEL.fullmatch(label) for label in host.split(".")):
            host = _ip_literal(host, text, field)  # numbers (also 0x7f...) only as dotted quad
        elif not _REG_NAME.match(host):
            raise InvalidInput(field, f"{text!r} is not a valid host name")
    if port == "":
        return host
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(field, f"{text!r} has an invalid port")
    return host if int(port) == 443 else f"{host}:{int(port)}"


def _ip_literal(text: str, original: str, field: str) -> str:
    """An IP address in its standard spelling: IPv4 dotted quad, IPv6 compressed in brackets."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidInput(field, f"{original!r} is not a valid IP address") from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return f"[{address.compressed}]"
    return str(address)


def host_of_url(url: str) -> str:
    """The ``host[:port]`` of an absolute URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInput("url", f"{url!r} is not a URL") from None
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
