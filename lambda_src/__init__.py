"""Code that runs inside the lambdafan Lambda functions (and, unchanged, on a laptop).

Stdlib and boto3 only: this package is zipped into the functions. It never imports `lambdafan`.
"""
