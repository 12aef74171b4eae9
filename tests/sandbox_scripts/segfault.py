import ctypes


def collect(session, region, account):
    ctypes.string_at(0)
