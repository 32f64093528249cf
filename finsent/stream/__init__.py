"""The stream runner: decode -> batch -> process -> write -> commit offsets last."""
