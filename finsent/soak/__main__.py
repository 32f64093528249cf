"""`python -m finsent.soak`: the same as `finsent soak`."""

from finsent.soak.cli import main

main()
