"""Ctrl-C waits for the end of a transaction (``qkdlab.interrupts``)."""

from __future__ import annotations

import os
import signal

import pytest

from qkdlab.interrupts import delayed_keyboard_interrupt


def test_a_ctrl_c_inside_the_block_is_raised_when_the_block_ends() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with delayed_keyboard_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("the transaction completed")
    assert finished == ["the transaction completed"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_a_second_ctrl_c_goes_through_at_once() -> None:
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with delayed_keyboard_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            reached.append("after the second Ctrl-C")
    assert reached == []


def test_nested_blocks_share_the_outer_hold_and_no_signal_means_no_interrupt() -> None:
    with delayed_keyboard_interrupt():
        with delayed_keyboard_interrupt():
            pass
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with delayed_keyboard_interrupt():
            with delayed_keyboard_interrupt():
                os.kill(os.getpid(), signal.SIGINT)
            steps.append("inner block ended without raising")
    assert steps == ["inner block ended without raising"]
