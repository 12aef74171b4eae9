"""Test script: one record per region, then in eu-west-1 raises its own BaseException."""


class Boom(BaseException):
    pass


def collect(session, region, account):
    yield {"region": region}
    if region == "eu-west-1":
        raise Boom("boom in " + region)
