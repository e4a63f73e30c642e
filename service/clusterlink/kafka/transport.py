"""Sockets and response framing for the data path.

kafka-python's transports read a socket 4 KiB per recv() call and join the
pieces: a 50 MiB Fetch answer costs 12,800 system calls and two extra copies
before its bytes reach the response parser. These read with recv_into() into
one reusable 1 MiB buffer and hand the parser a view of it.

kafka-python's parser then puts each response into a new zero-filled buffer
and copies it twice more before decoding. For answers of tens of MiB, the
fresh memory (page faults) and the copies cost more than everything else the
data path does. FrameParser assembles each response in one buffer per
connection, reused, and decodes it from a view. Once a large response has
begun, the transports read the rest of it straight into that buffer.

On a link's fetch connections the records of a Fetch answer are not copied
out at all: the answer arrives in a buffer of the link's FramePool, its
records decode as views of that buffer, and the data path queues, rewrites
and writes the batches from there. kafka-python's decoder would copy each
partition's records into fresh memory, which was the data path's largest
single cost.
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import kafka.errors as Errors
from kafka.net.inet import create_connection
from kafka.net.manager import KafkaConnectionManager
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport
from kafka.protocol.consumer import FetchResponse
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.schemas.fields.codecs import Bytes
from kafka.protocol.schemas.fields.codecs.types import UnsignedVarInt32
from kafka.protocol.schemas.fields.simple import SimpleField
from kafka.protocol.schemas.fields.struct import StructField
from kafka.protocol.schemas.fields.struct_array import StructArrayField

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# The smallest FramePool buffer: answers of an idle or slow link share these.
MIN_BUFFER_BYTES = 64 << 10
# A response with at least this much left to arrive is read into its own
# buffer, not through the chunk: one copy less for the bulk of a Fetch answer.
DIRECT_MIN_BYTES = 64 << 10


def _recv_into(transport: Any, view: memoryview,
               would_block: tuple[type[BaseException], ...]) -> tuple[memoryview, Any]:
    """What the socket holds now, up to len(view), read into `view`: (the part filled, an error or None)."""
    filled, err = 0, None
    while filled < len(view):
        try:
            n = transport._sock.recv_into(view[filled:])
        except would_block:
            break
        except BaseException as exc:  # noqa: BLE001 - reported to the connection, as kafka-python does
            log.debug("%s: error receiving network data: %s", transport, exc)
            err = Errors.KafkaConnectionError(exc)
            break
        if n == 0:
            err = Errors.KafkaConnectionError("socket disconnected")
            break
        filled += n
    return view[:filled], err


def _sock_recv(transport: Any, would_block: tuple[type[BaseException], ...]) -> tuple[Any, Any]:
    """The next bytes of the socket: into the response being received when much of it is left, else a chunk."""
    parser = getattr(transport._protocol, "parser", None)
    space = parser.direct_space() if isinstance(parser, FrameParser) else None
    if space is None:
        return _recv_into(transport, memoryview(transport._chunk), would_block)
    got, err = _recv_into(transport, space, would_block)
    parser.expect_in_place(got)
    return got, err


class ChunkedTCPTransport(KafkaTCPTransport):
    def __init__(self, net: Any, sock: Any, host: str | None = None):
        super().__init__(net, sock, host=host)
        self._chunk = bytearray(CHUNK_BYTES)

    def _sock_recv(self) -> tuple[Any, Any]:
        return _sock_recv(self, (BlockingIOError, InterruptedError))


class ChunkedSSLTransport(KafkaSSLTransport):
    def __init__(self, net: Any, sock: Any, host: str | None = None, **configs: Any):
        super().__init__(net, sock, host=host, **configs)
        self._chunk = bytearray(CHUNK_BYTES)

    def _sock_recv(self) -> tuple[Any, Any]:
        return _sock_recv(self, (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError))


class _FrameReader:
    """What kafka-python's decoders read one response from.

    Header fields are read with a size and come back as bytes, as from
    kafka-python's own buffer; the body is read whole and comes back as a view,
    not a copy (the decoder copies out only the fields it keeps).
    """

    __slots__ = ("_view", "_pos")

    def __init__(self, view: memoryview):
        self._view = view
        self._pos = 0

    def read(self, nbytes: int | None = None) -> bytes | memoryview:
        start = self._pos
        if nbytes is None:
            self._pos = len(self._view)
            return self._view[start:]
        self._pos = min(start + nbytes, len(self._view))
        return bytes(self._view[start:self._pos])

    def seek(self, pos: int) -> None:
        self._pos = pos

    def tell(self) -> int:
        return self._pos


def _in_use(buf: bytearray) -> bool:
    """Whether a view of `buf` lives: a bytearray cannot change size while one does."""
    try:
        buf.append(0)
    except BufferError:
        return True
    buf.pop()
    return False


class FramePool:
    """The buffers a link's Fetch answers arrive in, shared by its fetch connections.

    A buffer is in use while any view of it lives: the answer being received or
    decoded, or a batch of it that is queued or in flight. A free buffer is
    reused for the next answer of its size class, so receiving writes to warm
    memory rather than to fresh pages: a new buffer costs a page fault per 4 KiB
    and its zeroing, which showed as a tenth of the data path's CPU when only
    two free buffers were kept. Free buffers are kept while all buffers together
    fit in `keep_bytes` (the data path's buffer limit, so the memory stays what
    the busiest moment needed), and until none of their class was asked for in
    `idle_seconds`: an idle link gives the memory back. Size classes are powers
    of two up to `largest` (the largest answer expected), so answers of slightly
    different sizes share buffers. The data path counts `bytes_in_use` against
    its buffer limit and copies the last queued batches out of buffers held
    long (see Copier).
    """

    def __init__(self, largest: int, keep_bytes: int = 0, idle_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._largest = largest
        self._keep_bytes = keep_bytes
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._buffers: list[bytearray] = []  # in the order they were last taken
        self._taken: dict[int, tuple[float, int]] = {}  # id of a buffer -> when last taken, for how many bytes
        self._asked: dict[int, float] = {}  # size class -> when last asked for

    def _class_size(self, size: int) -> int:
        if size >= self._largest:
            return size
        return min(max(1 << (size - 1).bit_length(), MIN_BUFFER_BYTES), self._largest)

    def take(self, size: int) -> memoryview:
        now = self._clock()
        want = self._class_size(size)
        self._asked[want] = now
        free = [b for b in self._buffers if not _in_use(b)]
        buf = next((b for b in free if len(b) == want), None)
        if buf is None:
            buf = bytearray(want)
        # Free buffers kept: the most recently taken first, while all fit in keep_bytes.
        total = sum(len(b) for b in self._buffers) - sum(len(b) for b in free) + len(buf)  # in use, with buf
        others = [b for b in free if b is not buf]
        drop: list[bytearray] = []
        for b in reversed(others):
            if total + len(b) <= self._keep_bytes and now - self._asked.get(len(b), now) <= self._idle_seconds:
                total += len(b)
            else:
                drop.append(b)
        gone = {id(b) for b in drop} | {id(buf)}
        self._buffers = [b for b in self._buffers if id(b) not in gone]
        self._buffers.append(buf)
        for b in drop:
            del self._taken[id(b)]
        self._taken[id(buf)] = (now, size)
        return memoryview(buf)[:size]

    def in_use(self) -> list[bytearray]:
        """The buffers in use, the longest-held first."""
        return [b for b in self._buffers if _in_use(b)]

    def bytes_in_use(self) -> int:
        return sum(len(b) for b in self.in_use())

    def held_longer_than(self, seconds: float) -> list[tuple[bytearray, int]]:
        """The buffers in use that were taken more than `seconds` ago, with the size of the
        answer they were taken for, the longest-held first."""
        since = self._clock() - seconds
        return [(b, self._taken[id(b)][1]) for b in self.in_use() if self._taken[id(b)][0] < since]


class _RecordsView(Bytes):
    """kafka-python's bytes field, decoded as a view of the response instead of a copy."""

    @classmethod
    def emit_decode_from(cls, ctx: Any, var_name: str, indent: str, compact: bool = False) -> None:
        ln = ctx.next_var("ln")
        if compact:
            UnsignedVarInt32.emit_decode_from(ctx, ln, indent)
            ctx.emit(indent, f"{ln} -= 1")
        else:
            ctx.emit(indent, f'{ln} = unpack_from(">i", data, pos)[0]')
            ctx.emit(indent, "pos += 4")
        ctx.emit(indent, f"{var_name} = None if {ln} < 0 else data[pos:pos+{ln}]")
        ctx.emit(indent, f"pos += max({ln}, 0)")


def _graft(original: Any, twin: Any) -> None:
    """Gives `twin` (parsed from the same schema) the data classes of `original`,
    and makes its records fields views."""
    if isinstance(original, StructArrayField):
        _graft(original.array_of, twin.array_of)
        return
    if isinstance(original, SimpleField):
        if original._type_str == "records":  # noqa: SLF001 - no public way to change a field's codec
            twin._type = _RecordsView  # noqa: SLF001
        return
    if isinstance(original, StructField) and original.has_data_class():
        twin.set_data_class(original.data_class)
    for a, b in zip(original._fields or (), twin._fields or (), strict=True):  # noqa: SLF001
        _graft(a, b)


class _FetchViews:
    """Stands in for kafka-python's FetchResponse class of one version: the same
    response objects, with each partition's records a view of the frame."""

    def __init__(self, version: int):
        self._cls = FetchResponse[version]
        twin = StructField(FetchResponse.json)
        _graft(FetchResponse._struct, twin)  # noqa: SLF001
        flexible = self._cls.flexible_version_q(version)
        self._decode = twin.compiled_decode_from(version, compact=flexible, tagged=flexible,
                                                 data_class=FetchResponse)

    def parse_header(self, reader: Any) -> Any:
        return self._cls.parse_header(reader)

    def decode(self, reader: Any) -> Any:
        response, _ = self._decode(memoryview(reader.read()), 0)
        return response


@functools.cache
def _fetch_views(version: int) -> _FetchViews:
    return _FetchViews(version)


class _ViewsHeader:
    """A sent Fetch request's header, as the parser keeps it until the answer:
    the answer is decoded by _FetchViews."""

    __slots__ = ("_header", "_views")

    def __init__(self, header: Any, views: _FetchViews):
        self._header = header
        self._views = views

    def __getattr__(self, name: str) -> Any:
        return getattr(self._header, name)

    def get_response_class(self) -> _FetchViews:
        return self._views


class FrameParser(KafkaProtocol):
    """kafka-python's protocol parser, with responses assembled in a reused buffer.

    Sending, correlation ids and decoding are kafka-python's; only how the bytes
    of a response are gathered differs, and with a FramePool, that Fetch
    records come as views of their buffer.
    """

    def __init__(self, frames: FramePool | None = None, **config: Any):
        super().__init__(**config)
        self._frames = frames
        self._size_bytes = bytearray(4)
        self._size_filled = 0
        self._frame: memoryview | None = None   # the response being received
        self._filled = 0
        self._spare = bytearray()               # the buffer responses are assembled in
        self._in_place: memoryview | None = None  # bytes the transport read straight into the frame

    def send_request(self, request: Any, correlation_id: int | None = None) -> int:
        sent = super().send_request(request, correlation_id)
        if (self._frames is not None and request.API_KEY == FetchResponse.API_KEY
                and self.in_flight_requests and self.in_flight_requests[-1] is request.header):
            self.in_flight_requests[-1] = _ViewsHeader(request.header, _fetch_views(request.API_VERSION))
        return sent

    def direct_space(self) -> memoryview | None:
        """The unfilled rest of the response being received, when at least
        DIRECT_MIN_BYTES: the transport reads into it, then passes what it read
        to expect_in_place() and on to receive_bytes()."""
        frame = self._frame
        if frame is None or len(frame) - self._filled < DIRECT_MIN_BYTES:
            return None
        return frame[self._filled:]

    def expect_in_place(self, data: memoryview) -> None:
        self._in_place = data

    def receive_bytes(self, data: Any) -> list[Any]:
        if data is self._in_place:
            self._in_place = None  # already in the frame, where it belongs
            self._filled += len(data)
            return self._complete() if self._filled == len(self._frame) else []  # type: ignore[arg-type]
        view = data if isinstance(data, memoryview) else memoryview(data)
        responses = []
        i, n = 0, len(view)
        while i < n:
            if self._frame is None:
                take = min(4 - self._size_filled, n - i)
                self._size_bytes[self._size_filled:self._size_filled + take] = view[i:i + take]
                self._size_filled += take
                i += take
                if self._size_filled < 4:
                    break
                size = int.from_bytes(self._size_bytes, "big", signed=True)
                self._validate_frame_size(size)
                self._frame = self._buffer_for(size)
                self._filled = 0
            frame = self._frame
            take = min(len(frame) - self._filled, n - i)
            frame[self._filled:self._filled + take] = view[i:i + take]
            self._filled += take
            i += take
            if self._filled < len(frame):
                break
            del frame
            responses.extend(self._complete())
        return responses

    def _complete(self) -> list[Any]:
        frame = self._frame
        assert frame is not None
        self._frame, self._size_filled = None, 0
        return [self._process_response(_FrameReader(frame))]

    def _buffer_for(self, size: int) -> memoryview:
        if self._frames is not None:  # every answer: a Fetch answer's records stay where they arrive
            return self._frames.take(size)
        buf = self._spare
        if len(buf) >= size:
            try:
                # A bytearray cannot be resized while a view of it lives: this
                # raises if a decoded response still holds part of the last frame
                # (the decoders copy what they keep, so it is rare).
                buf.append(0)
                buf.pop()
                return memoryview(buf)[:size]
            except BufferError:
                pass
        self._spare = buf = bytearray(size)
        return memoryview(buf)


class ChunkedConnectionManager(KafkaConnectionManager):
    """kafka-python's connection manager with the chunked transports and FrameParser.

    The transport is built as in KafkaConnectionManager._build_transport
    (kafka-python 3.0.12), only with the classes above. With `frames`, its
    connections receive every response into that pool, and Fetch records as views.
    """

    def __init__(self, net: Any, frames: FramePool | None = None, **configs: Any):
        self._frames = frames
        super().__init__(net, **configs)

    async def _connect(self, node: Any, conn: Any, **kwargs: Any) -> None:
        # The connection makes its parser in connection_made(), before it sends or
        # reads anything: swap it for a FrameParser right there.
        made = conn.connection_made

        def connection_made(transport: Any) -> None:
            made(transport)
            conn.parser = FrameParser(frames=self._frames, client_id=conn.config["client_id"],
                                      receive_message_max_bytes=conn.config["receive_message_max_bytes"],
                                      ident=conn.parser._ident)

        conn.connection_made = connection_made
        await super()._connect(node, conn, **kwargs)

    async def _build_transport(self, node: Any, timeout_at: float | None = None) -> Any:
        sock = await create_connection(self._net, node.host, node.port, self.config["socket_options"],
                                       proxy_url=self.config["proxy_url"], timeout_at=timeout_at)
        transport: KafkaTCPTransport
        if self.ssl_enabled:
            ssl_configs = {key: value for key, value in self.config.items() if key.startswith("ssl_")}
            transport = ChunkedSSLTransport(self._net, sock, host=node.host, **ssl_configs)
        else:
            transport = ChunkedTCPTransport(self._net, sock, host=node.host)
        try:
            await transport.handshake()
        except Exception as exc:
            raise Errors.KafkaConnectionError(f"Handshake failed: {exc}") from exc
        return transport
