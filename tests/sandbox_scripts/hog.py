def collect(session, region, account):
    hog = bytearray(2 * 1024**3)
    yield {"size": len(hog)}
