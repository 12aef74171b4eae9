"""moto's server as the local cloud runs it: `python -m lambdafan.local_cloud.moto_main ARGS`.

Two changes to `python -m moto.server ARGS`, both for what a fleet does to it at once:
- DynamoDB requests are handled one at a time. moto's DynamoDB is not thread-safe (an `ADD`
  update is a read-modify-write; a Query iterates dicts that writes change), and the server
  answers each request on a thread, so twelve Workers finishing together lost increments of the
  run item, leaving a run "running" for ever. DynamoDB applies each request atomically.
- No access log: a line per request on stderr, which nobody reads.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler
from moto.server import main as moto_main


def serialise_dynamodb(handler: type[Any] = DynamoHandler) -> None:
    """Make `handler` (moto's DynamoDB responses) answer one request at a time."""
    lock = threading.RLock()
    call_action = handler.call_action

    def serialised(self: Any) -> Any:
        with lock:
            return call_action(self)

    handler.call_action = serialised


def main(argv: list[str]) -> None:
    # Ctrl-C reaches the terminal's whole process group; this server must outlive what still
    # calls it while its parent shuts down (which then stops it).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    serialise_dynamodb()
    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
