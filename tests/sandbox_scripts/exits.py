import os


def collect(session, region, account):
    os._exit(0)
