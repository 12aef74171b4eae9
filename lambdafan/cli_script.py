"""`lambdafan script` commands (being written)."""
