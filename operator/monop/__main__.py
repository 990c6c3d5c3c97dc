"""`python -m monop`."""

from monop.cli.main import main

main()
