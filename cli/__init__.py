"""The `finsent` command line: one entry point that mounts every service's commands."""
