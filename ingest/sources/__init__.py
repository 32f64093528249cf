"""Sources: each turns one kind of input into `RawItem`s (or `Rejected`s) and decides nothing."""
