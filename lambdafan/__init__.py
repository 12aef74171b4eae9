"""lambdafan: run your boto3 scripts across every AWS account and region on Lambda."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lambdafan")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
