"""The broker ids a Kafka node's metadata lists, with the standard library alone (services/ runs
before the venv exists). A node that logged "Kafka Server started" can still answer clients with
metadata that lacks another node for a moment, and a client that picks a broker from it then fails
(kafka-python's UnknownBrokerIdError, met in CI), so the cluster is up only once every node lists
every broker.

The request is Metadata v4 for no topics (api key 3; non-flexible, so header v1 and response header
v0): supported by every Kafka from 1.0 on, and not among the versions Kafka 4.0 removed (KIP-896).
"""

from __future__ import annotations

import socket
import struct

METADATA = 3
VERSION = 4
CLIENT = b"spectator-services"


def request(correlation_id: int) -> bytes:
    header = struct.pack(">hhih", METADATA, VERSION, correlation_id, len(CLIENT)) + CLIENT
    body = struct.pack(">i?", 0, False)  # no topics (an empty array, not null: null means all); no auto-create
    message = header + body
    return struct.pack(">i", len(message)) + message


def broker_ids(response: bytes, correlation_id: int) -> set[int]:
    """The node ids in a Metadata v4 response (without its length prefix)."""
    got, _throttle, count = struct.unpack_from(">iii", response, 0)
    if got != correlation_id:
        raise ValueError(f"a response to request {got}, not {correlation_id}")
    offset, ids = 12, set()
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", response, offset)
        offset += 6 + host_len + 4  # host, then port
        (rack_len,) = struct.unpack_from(">h", response, offset)
        offset += 2 + max(rack_len, 0)  # -1: no rack
        ids.add(node_id)
    return ids


def listed_brokers(host: str, port: int, timeout_s: float = 2.0) -> set[int]:
    """The broker ids the node at host:port lists now. Raises OSError if it does not answer."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(request(1))
        (size,) = struct.unpack(">i", _read(sock, 4))
        return broker_ids(_read(sock, size), 1)


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data
