import time


def collect(session, region, account):
    yield {"before": region}
    time.sleep(3600)
