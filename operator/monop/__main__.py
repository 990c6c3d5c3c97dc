"""`python -m monop`."""

from monop.cli import main

main()
