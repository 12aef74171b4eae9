"""Reads its command line at import, as laptop scripts do: in lambdafan it has none."""

import argparse
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--days", type=int, default=90)
ARGS = parser.parse_args()
ARGV = list(sys.argv)


def collect(session, region, account):
    yield {"days": ARGS.days, "argv": ARGV}
