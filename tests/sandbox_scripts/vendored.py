import lfvendored


def collect(session, region, account):
    yield {"answer": lfvendored.ANSWER}
