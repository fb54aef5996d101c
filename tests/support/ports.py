"""Free loopback ports for the servers the tests (and benchmarks) start."""

import socket


def free_ports(count: int) -> list[int]:
    """Ports free now; all held at once while chosen, so they differ."""
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def free_port() -> int:
    return free_ports(1)[0]
