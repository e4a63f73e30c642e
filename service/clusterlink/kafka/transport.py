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
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import kafka.errors as Errors
from kafka.net.inet import create_connection
from kafka.net.manager import KafkaConnectionManager
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport
from kafka.protocol.parser import KafkaProtocol

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
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


class FrameParser(KafkaProtocol):
    """kafka-python's protocol parser, with responses assembled in a reused buffer.

    Sending, correlation ids and decoding are kafka-python's; only how the bytes
    of a response are gathered differs.
    """

    def __init__(self, **config: Any):
        super().__init__(**config)
        self._size_bytes = bytearray(4)
        self._size_filled = 0
        self._frame: memoryview | None = None   # the response being received
        self._filled = 0
        self._spare = bytearray()               # the buffer responses are assembled in
        self._in_place: memoryview | None = None  # bytes the transport read straight into the frame

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
    (kafka-python 3.0.12), only with the classes above.
    """

    async def _connect(self, node: Any, conn: Any, **kwargs: Any) -> None:
        # The connection makes its parser in connection_made(), before it sends or
        # reads anything: swap it for a FrameParser right there.
        made = conn.connection_made

        def connection_made(transport: Any) -> None:
            made(transport)
            conn.parser = FrameParser(client_id=conn.config["client_id"],
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
