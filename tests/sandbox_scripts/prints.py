"""A laptop script half ported: it prints what it finds and yields nothing, in us-east-1."""


def collect(session, region, account):
    if region == "us-east-1":
        print(account.id, region, "vol-1")
    return None
