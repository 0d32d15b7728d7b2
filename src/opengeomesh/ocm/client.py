"""The one outbound HTTP client for server-to-server calls.

Timeouts, a cap on response size, no redirects to other hosts, and an address guard at connect
time: loopback, private, link-local, shared (CGNAT), multicast and cloud-metadata addresses are
refused unless the operator allows private peers (a development switch). Checking the address
actually connected to, after DNS resolution, also covers redirects and DNS rebinding.

Requests are answered whole (``send``, blocking, in a worker thread); long-lived streams such
as a change feed's Server-Sent Events are read on the event loop (``stream``, async), with the
same guard, no redirects at all, a connect timeout and an idle timeout between reads.

GET requests reuse kept-alive connections (one pool per client, per peer origin): each exchange
still has its own total deadline, and a kept connection is dropped instead of reused once its
peer's name no longer resolves to the address it is connected to, or the guard would refuse that
address. Other methods (token exchanges, signed notifications, writes) get a new connection each,
so that a peer closing an idle connection can never make one of them fail half-sent.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx
import orjson

from opengeomesh.errors import Busy, OpenGeoMeshError

MAX_REDIRECTS = 3
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 (CGNAT)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
MAX_CONCURRENT = 16  # outbound exchanges at once, so slow peers cannot take every worker
MAX_STREAMS = 256  # long-lived outbound streams at once (each one a connection)
MAX_REFUSAL_BYTES = 65536  # read of a stream's answer that is not a stream (an error)
KEEPALIVE_S = 4.0  # idle connections kept below common servers' idle timeouts (uvicorn: 5 s)
RECHECK_S = 1.0  # how often a kept connection's peer name is resolved again before reuse
REUSED_METHODS = frozenset({"GET", "HEAD"})

_exchange = threading.local()  # .deadline: the total deadline of this thread's exchange


class PeerUnavailable(OpenGeoMeshError):
    """A peer could not be reached, answered too slowly, too much, or not in the expected form."""


class PeerTimeout(PeerUnavailable):
    """A peer did not answer within the time allowed."""


class PeerUnreachable(PeerUnavailable):
    """No connection could be made (or it broke): the peer did not answer at all."""


class AddressRefused(PeerUnavailable):
    """The peer's address is one this server must not connect to."""


def address_allowed(ip: str, allow_private: bool) -> bool:
    """Whether connecting to ``ip`` is allowed: public unicast only; with ``allow_private`` also
    loopback and private ranges. Link-local (cloud metadata) and multicast never."""
    address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    if address.is_multicast or address.is_unspecified or address.is_link_local:
        return False
    if allow_private and (address.is_loopback or address.is_private):
        return True
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE:
        return False
    return address.is_global


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64 (RFC 6052), 6to4 or IPv4-compatible IPv6
    address: it is where such an address leads, so it is what the guard must judge."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or address in NAT64_LOCAL or address in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class _DeadlineStream(httpcore.NetworkStream):
    """A connection that refuses to wait past a deadline, whatever the peer trickles: the
    deadline of the exchange under way in this thread, else its own (from when it was made).
    ``stale`` once the guard would no longer connect to its address: the pool then sees it as
    closed by the peer and does not reuse it."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float, address: str = "") -> None:
        self._stream = stream
        self._deadline = deadline
        self.address = address
        self.stale = False

    def _left(self, timeout: float | None) -> float:
        left = getattr(_exchange, "deadline", self._deadline) - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the peer took longer than the total deadline")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        self._stream = self._stream.start_tls(ssl_context, server_hostname, self._left(timeout))
        return self  # the same record (and ``stale`` flag), now over TLS

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self.stale:
            return True  # httpcore closes an idle connection that is readable, never reuses it
        return self._stream.get_extra_info(info)


def _allowed_addresses(host: str, infos: list[Any], allow_private: bool) -> list[str]:
    addresses = [str(info[4][0]) for info in infos]
    allowed = [a for a in addresses if address_allowed(a, allow_private)]
    if not allowed:
        raise AddressRefused(
            f"{host} resolves to {', '.join(addresses)}, an address this server"
            " does not connect to (private, loopback or link-local)"
        )
    return allowed


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves the host itself, checks every address, and connects only to an allowed one.
    Keeps a record of its connections per peer so that ``recheck`` can mark stale those the
    guard would not make now."""

    def __init__(self, allow_private: bool, deadline: float) -> None:
        self._allow_private = allow_private
        self._deadline = deadline
        self._lock = threading.Lock()
        self._made: dict[tuple[str, int], weakref.WeakSet[_DeadlineStream]] = {}
        self._checked: dict[tuple[str, int], float] = {}

    def recheck(self, host: str, port: int) -> None:
        """Before reusing a connection to ``host``: at most every ``RECHECK_S`` seconds,
        resolve the name again; connections to an address it no longer leads to, or that the
        guard refuses, are marked stale (closed by the pool, not reused)."""
        key = (host, port)
        now = time.monotonic()
        with self._lock:
            streams = list(self._made.get(key, ()))
            if not streams:
                self._made.pop(key, None)
                self._checked.pop(key, None)
                return
            if now - self._checked.get(key, 0.0) < RECHECK_S:
                return
            self._checked[key] = now
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            allowed = set(_allowed_addresses(host, infos, self._allow_private))
        except (OSError, AddressRefused):
            allowed = set()
        for stream in streams:
            if stream.address not in allowed:
                stream.stale = True

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        allowed = _allowed_addresses(host, infos, self._allow_private)
        deadline = getattr(_exchange, "deadline", time.monotonic() + self._deadline)
        stream = super().connect_tcp(allowed[0], port, timeout, local_address, socket_options)
        made = _DeadlineStream(stream, deadline, allowed[0])
        with self._lock:
            self._made.setdefault((host, port), weakref.WeakSet()).add(made)
            self._checked.setdefault((host, port), time.monotonic())
        return made


class _GuardedAsyncBackend(httpcore.AnyIOBackend):
    """The same guard for streams read on the event loop (no total deadline: a stream is
    long-lived; the idle timeout of each read bounds a silent peer)."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        allowed = _allowed_addresses(host, infos, self._allow_private)
        return await super().connect_tcp(allowed[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no Unix sockets for other servers")


class _GuardedAsyncTransport(httpx.AsyncHTTPTransport):
    def __init__(self, allow_private: bool, ssl_context: ssl.SSLContext) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            network_backend=_GuardedAsyncBackend(allow_private),
            max_connections=1,
            max_keepalive_connections=0,
        )


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, allow_private: bool, deadline: float, *, keep_alive: bool) -> None:
        super().__init__(trust_env=False)
        self.backend = _GuardedBackend(allow_private, deadline)
        self._pool = httpcore.ConnectionPool(  # replaces the default pool with a guarded one
            ssl_context=httpx.create_ssl_context(),
            network_backend=self.backend,
            max_connections=MAX_CONCURRENT,
            max_keepalive_connections=MAX_CONCURRENT if keep_alive else 0,
            keepalive_expiry=KEEPALIVE_S if keep_alive else None,
        )


@dataclass(frozen=True, slots=True)
class PeerResponse:
    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise PeerUnavailable("the peer answered with something that is not JSON") from None


@dataclass(frozen=True, slots=True)
class PeerStream:
    """An answer being read: its status and headers, the whole body if it is not a 200 (an
    error, read up to a limit), else its bytes as they come with ``chunks``."""

    status: int
    headers: httpx.Headers
    body: bytes
    _response: httpx.Response
    _where: str

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it comes; a read error or an idle timeout is ``PeerUnavailable``."""
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.TimeoutException:
            raise PeerTimeout(f"{self._where} went silent") from None
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"{self._where} broke off: {exc}") from None


def _where(request: httpx.Request) -> str:
    """The peer as people name it in messages: host and port."""
    return request.url.netloc.decode("ascii", "replace")


class OutboundClient:
    """Makes every server-to-server request of this server."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float = 10.0,
        max_response_bytes: int = 1 << 20,
        transport: httpx.BaseTransport | None = None,
        stream_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._max = max_response_bytes
        self._timeout = timeout
        self._allow_private = allow_private
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        self._streams = 0
        self._streams_lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        self._stream_transport = stream_transport
        self._reused: _GuardedTransport | None = None
        if transport is None:
            self._reused = _GuardedTransport(allow_private, timeout, keep_alive=True)
            transport = _GuardedTransport(allow_private, timeout, keep_alive=False)
        self._client = self._http(transport)
        self._reusing = self._http(self._reused or transport)

    def _http(self, transport: httpx.BaseTransport) -> httpx.Client:
        return httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 5.0)),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "OpenGeoMesh"},
        )

    @property
    def timeout(self) -> float:
        """Seconds one exchange may take in all (after up to a second waiting for a slot)."""
        return self._timeout

    def send(self, request: httpx.Request, *, max_bytes: int | None = None) -> PeerResponse:
        """Send a prepared request; follow same-host redirects only (GET requests). Answers
        over ``max_bytes`` (default: the client's cap) are refused."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._exchange(request, max_bytes or self._max)
            location = response.headers.get("location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            target = request.url.join(location)
            if (
                request.method != "GET"
                or target.host != request.url.host
                or (target.port != request.url.port)
                or target.scheme != request.url.scheme
            ):
                raise PeerUnavailable(f"{_where(request)} redirects elsewhere ({target.host})")
            request = self._client.build_request("GET", target, headers=request.headers)
        raise PeerUnavailable(f"{_where(request)} redirects too often")

    def build(self, method: str, url: str, **options: Any) -> httpx.Request:
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise PeerUnavailable(f"{url!r} is not an http(s) URL")
        try:
            return self._client.build_request(method, url, **options)
        except (httpx.InvalidURL, ValueError):
            raise PeerUnavailable(f"{url!r} is not a valid URL") from None

    def get_json(self, url: str) -> Any:
        response = self.send(self.build("GET", url, headers={"Accept": "application/json"}))
        if response.status != 200:
            raise PeerUnavailable(f"{url} answered {response.status}")
        return response.json()

    def _exchange(self, request: httpx.Request, limit: int) -> PeerResponse:
        """One request and its whole answer, within ``timeout`` seconds in all (a peer that
        trickles bytes is cut off too) and within the cap on concurrent exchanges."""
        if not self._slots.acquire(timeout=1):
            raise Busy("too many calls to other servers under way; try again shortly")
        try:
            return self._exchange_now(request, time.monotonic() + self._timeout, limit)
        finally:
            self._slots.release()

    def _exchange_now(self, request: httpx.Request, deadline: float, limit: int) -> PeerResponse:
        client = self._client
        reused = request.method in REUSED_METHODS
        if reused:
            client = self._reusing
            if self._reused is not None:
                port = request.url.port or (443 if request.url.scheme == "https" else 80)
                self._reused.backend.recheck(request.url.host, port)
        _exchange.deadline = deadline  # the connection's reads and writes stop there
        try:
            with _peer_errors(request), ExitStack() as stack:
                response = _open(stack, client, request, retry=reused)
                body = bytearray()
                for chunk in response.iter_bytes():
                    if time.monotonic() > deadline:
                        raise PeerTimeout(f"{_where(request)} did not answer in time")
                    body += chunk
                    if len(body) > limit:
                        raise PeerUnavailable(f"{_where(request)} answered more than {limit} bytes")
                return PeerResponse(response.status_code, response.headers, bytes(body))
        finally:
            del _exchange.deadline

    @asynccontextmanager
    async def stream(
        self, request: httpx.Request, *, idle_timeout: float
    ) -> AsyncIterator[PeerStream]:
        """Open a long-lived answer (a prepared GET, such as a Server-Sent Events stream) on
        the event loop; redirects are not followed. Waiting more than ``idle_timeout`` seconds
        for the next bytes is ``PeerTimeout``. At most ``MAX_STREAMS`` at once (``Busy``)."""
        with self._streams_lock:
            if self._streams >= MAX_STREAMS:
                raise Busy("too many streams from other servers open; try again shortly")
            self._streams += 1
        try:
            with _peer_errors(request):
                async with (
                    self._stream_client(idle_timeout) as client,
                    client.stream(request.method, request.url, headers=request.headers) as response,
                ):
                    body = b""
                    if response.status_code != 200:
                        body = await _read_some(response, MAX_REFUSAL_BYTES)
                    yield PeerStream(
                        response.status_code, response.headers, body, response, _where(request)
                    )
        finally:
            with self._streams_lock:
                self._streams -= 1

    def _stream_client(self, idle_timeout: float) -> httpx.AsyncClient:
        transport = self._stream_transport
        if transport is None:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            transport = _GuardedAsyncTransport(self._allow_private, self._ssl)
        connect = min(self._timeout, 5.0)
        return httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(self._timeout, connect=connect, read=idle_timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "OpenGeoMesh"},
        )

    def close(self) -> None:
        self._client.close()
        self._reusing.close()


def _open(
    stack: ExitStack, client: httpx.Client, request: httpx.Request, *, retry: bool
) -> httpx.Response:
    """The answer's head; with ``retry`` (a GET) once more if the connection broke before any
    answer came: a kept connection the peer closed just as it was reused."""
    for again in (retry, False):
        try:
            return stack.enter_context(
                client.stream(
                    request.method, request.url, headers=request.headers, content=request.content
                )
            )
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            if not again:
                raise
    raise AssertionError("unreachable")


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of an answer (the body of a refusal, for its message)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


@contextmanager
def _peer_errors(request: httpx.Request) -> Iterator[None]:
    """httpx's errors as this module's: the guard's refusal, a timeout, anything else."""
    try:
        yield
    except httpx.TimeoutException:
        raise PeerTimeout(f"{_where(request)} did not answer in time") from None
    except httpx.HTTPError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, AddressRefused):
            raise cause from None
        raise PeerUnreachable(f"{_where(request)} cannot be reached: {exc}") from None
