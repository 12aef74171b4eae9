"""`lambdafan status` commands (being written)."""
