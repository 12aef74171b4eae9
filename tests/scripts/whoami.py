"""Test script: one record per region saying which account the session is really in."""


def collect(session, region, account):
    identity = session.client("sts", region_name=region).get_caller_identity()
    yield {"caller_account": identity["Account"], "region_seen": region, "for": account.id}
