import time

time.sleep(3600)


def collect(session, region, account):
    yield {}
