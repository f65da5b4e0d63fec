"""SIGTERM is handled like Ctrl-C by the CLI (ui/interrupts.py), in this process."""

from __future__ import annotations

import os
import signal

import pytest

from ui import cli
from ui.interrupts import Terminated, exit_code, sigterm_as_interrupt


def test_sigterm_raises_terminated_inside_the_block_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0)  # give the interpreter a bytecode boundary to run the handler
        pytest.fail("SIGTERM did not interrupt the block")
    assert signal.getsignal(signal.SIGTERM) is before
    assert (exit_code(Terminated()), exit_code(KeyboardInterrupt())) == (143, 130)


def test_an_ignored_sigterm_stays_ignored():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with sigterm_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGTERM)  # ignored: nothing happens
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize(("exc", "code"), [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_the_cli_prints_one_line_and_exits_130_or_143(monkeypatch, capsys, exc, code):
    import ui.commands.encoders_cmd as command

    def stopped(args):
        raise exc

    monkeypatch.setattr(command, "run", stopped)  # registered when main builds the parser
    assert cli.main(["encoders"]) == code
    assert capsys.readouterr().err == "interrupted\n"
