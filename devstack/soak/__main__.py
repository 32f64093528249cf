"""`python -m devstack.soak`: the same as `finsent soak`."""

from devstack.soak.cli import main

main()
