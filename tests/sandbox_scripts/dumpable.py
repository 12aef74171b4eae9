import ctypes


def collect(session, region, account):
    # prctl(PR_GET_DUMPABLE): 0 means /proc/<this pid>/environ is closed to the same user.
    yield {"dumpable": ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)}
