"""lambdafan: run your boto3 scripts across every AWS account and region on Lambda."""
