"""A local Lambda runtime in front of moto's server: runs the functions' own zips on `Invoke`."""

from lambdafan.local_cloud.cloud import LocalCloud
from lambdafan.local_cloud.invocation_log import InvocationRecord

__all__ = ["InvocationRecord", "LocalCloud"]
