"""The live soak: the real services on a real broker and Redis, an accelerated clock,
real StockNet days re-timed to "now", scheduled faults, and pass criteria (`docs/soak.md`).

`finsent soak --short` is the form `make test` runs; `make soak` runs the full one.
"""
