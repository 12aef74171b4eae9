"""`lambdafan results` commands (being written)."""
