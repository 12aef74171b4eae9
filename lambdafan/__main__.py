"""`python -m lambdafan` is the `lambdafan` command."""

from lambdafan.cli import main

main()
