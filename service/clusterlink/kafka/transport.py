"""Sockets for the data path that read in large chunks.

kafka-python's transports read a socket 4 KiB per recv() call and join the
pieces: a 50 MiB Fetch answer costs 12,800 system calls and two extra copies
before its bytes reach the response parser. These read with recv_into() into
one reusable 1 MiB buffer and hand the parser a view of it; the parser copies
what it keeps into the response's own buffer before the next read.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import kafka.errors as Errors
from kafka.net.inet import create_connection
from kafka.net.manager import KafkaConnectionManager
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


def _recv_chunk(transport: Any, would_block: tuple[type[BaseException], ...]) -> tuple[Any, Any]:
    """What the socket holds now, up to CHUNK_BYTES: (a view of the bytes, an error or None)."""
    buf = transport._chunk
    view = memoryview(buf)
    filled, err = 0, None
    while filled < len(buf):
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


class ChunkedTCPTransport(KafkaTCPTransport):
    def __init__(self, net: Any, sock: Any, host: str | None = None):
        super().__init__(net, sock, host=host)
        self._chunk = bytearray(CHUNK_BYTES)

    def _sock_recv(self) -> tuple[Any, Any]:
        return _recv_chunk(self, (BlockingIOError, InterruptedError))


class ChunkedSSLTransport(KafkaSSLTransport):
    def __init__(self, net: Any, sock: Any, host: str | None = None, **configs: Any):
        super().__init__(net, sock, host=host, **configs)
        self._chunk = bytearray(CHUNK_BYTES)

    def _sock_recv(self) -> tuple[Any, Any]:
        return _recv_chunk(self, (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError))


class ChunkedConnectionManager(KafkaConnectionManager):
    """kafka-python's connection manager with the chunked transports.

    The transport is built as in KafkaConnectionManager._build_transport
    (kafka-python 3.0.12), only with the classes above.
    """

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
