"""Sources: each turns one kind of input into `RawItem`s (or `Unreadable`s) and decides nothing."""
