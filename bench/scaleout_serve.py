"""One app instance of the scale-out scenario: ``python -m bench.scaleout_serve PORT WORKERS``.

uvicorn's multi-worker mode (its own supervisor, ``--workers N``) on a listening socket bound
here with ``SO_REUSEPORT``, so several instances can listen on one port and the kernel spreads
connections between them. The socket is made with ``IPPROTO_TCP`` spelled out: asyncio sets
``TCP_NODELAY`` on accepted connections only when the listening socket says TCP (family, type
and protocol), and without it every answer waits ~40 ms for a delayed ACK (Nagle). For the
same reason ``uvicorn --fd`` (which wraps an inherited socket as a Unix one) is not used.
"""

from __future__ import annotations

import socket
import sys

from uvicorn import Config
from uvicorn.supervisors import Multiprocess


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.set_inheritable(True)
    config = Config(
        "bench.scaleout_app:create_app",
        factory=True,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    main()
