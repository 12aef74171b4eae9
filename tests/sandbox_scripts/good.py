def collect(session, region, account):
    ident = session.client("sts", region_name=region).get_caller_identity()
    yield {"account": ident["Account"], "region": region}
