"""`finsent run` (`make run`) speaks in one line per stage, not in library noise."""

from __future__ import annotations

import logging

import pytest

from cli.run_cmd import STACK_STILL_RUNNING, quiet_loggers, quiet_model_loading


def test_broker_start_up_errors_are_quiet_only_while_the_stack_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = logging.getLogger("kafka.conn")
    caplog.set_level(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    with quiet_loggers("kafka"):
        conn.error("Connect attempt returned error 111 (ECONNREFUSED)")
    assert not caplog.records
    assert logging.getLogger("kafka").level == logging.WARNING  # restored
    conn.error("broker gone")  # after start-up, a real failure is still reported
    assert [r.getMessage() for r in caplog.records] == ["broker gone"]


def test_the_loss_type_warning_is_quiet_but_other_transformers_warnings_are_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    quiet_model_loading()
    library = logging.getLogger("transformers")
    # transformers turns propagation off once imported (caplog listens at the root), and
    # other tests may have set its verbosity: pin both for this test.
    propagate, level = library.propagate, library.level
    library.propagate = True
    library.setLevel(logging.WARNING)
    try:
        logging.getLogger("transformers.modeling_utils").warning(
            "`loss_type=None` was set in the config but it is unrecognized."
        )
        logging.getLogger("transformers.tokenization_utils_base").warning("kept")
    finally:
        library.propagate = propagate
        library.setLevel(level)
    # A set: a handler another test left on transformers' logger may see the record again.
    assert {r.getMessage() for r in caplog.records if r.name.startswith("transformers")} == {"kept"}


def test_the_stop_message_says_how_to_stop_the_stack() -> None:
    assert "make stack-down" in STACK_STILL_RUNNING
    assert "keep running" in STACK_STILL_RUNNING
