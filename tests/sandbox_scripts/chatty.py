"""Prints a line in pieces, from every region at once, and logs (to stderr) what it finds
without yielding it: each line must arrive whole and labelled, and the logging count."""

import logging
import time

log = logging.getLogger("chatty")


def collect(session, region, account):
    for piece in ("one ", "line ", "in ", "pieces"):
        print(piece, end="")
        time.sleep(0.01)
    print()
    log.warning("found vol-1 in %s", region)
    return None
