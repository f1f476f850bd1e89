# -*- coding: utf-8 -*-
"""runtime.options names signals from _signal's constants, without the signal module's enum:
the same canonical names as signal.Signals for every number and every alias, the same
SIGRTMIN+N names, the same error for anything else."""

from __future__ import annotations

import re
import signal

import pytest

from ansible_collections.undock.oci.plugins.module_utils.runtime import options as O
from ansible_collections.undock.oci.plugins.module_utils.runtime.errors import ContainerError

pytestmark = pytest.mark.unit


def expected_name(number: int) -> str:
    """What signal_name gave through signal.Signals."""
    if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
        offset = number - signal.SIGRTMIN
        return "SIGRTMIN+%d" % offset if offset else "SIGRTMIN"
    return signal.Signals(number).name


def test_every_number_has_the_name_signal_gives_it():
    for number in range(1, signal.SIGRTMAX + 1):
        try:
            name = expected_name(number)
        except ValueError:
            with pytest.raises(ContainerError, match="stop_signal: '%d' is not a signal" % number):
                O.signal_name(str(number))
            continue
        assert O.signal_name(str(number)) == name
        assert O.signal_name(number) == name
        assert O.signal_number(name) == number


def test_every_alias_has_its_canonical_name():
    members = signal.Signals.__members__
    assert {"SIGIOT", "SIGCLD", "SIGPOLL"} <= set(members)  # the aliases of this platform
    for alias, member in members.items():
        if alias in ("SIGRTMIN", "SIGRTMAX"):
            continue  # named as SIGRTMIN+N below
        assert O.signal_name(alias) == member.name
        assert O.signal_name(alias[len("SIG"):].lower()) == member.name
        assert O.signal_number(member.name) == member.value
    assert O.signal_name("SIGIOT") == "SIGABRT" and O.signal_name("cld") == "SIGCHLD" and O.signal_name("POLL") == "SIGIO"


def test_the_real_time_bounds():
    assert O.signal_name("SIGRTMAX") == expected_name(signal.SIGRTMAX)
    assert O.signal_name("RTMIN") == "SIGRTMIN"


@pytest.mark.parametrize("given", ["SIG_DFL", "SIG_IGN", "SIG_BLOCK", "NSIG", "SIGNSIG", "0", "65", "-1", "kill -9", "",
                                   "SIGTERMX", "ITIMER_REAL", "²"])
def test_what_is_no_signal_is_refused_as_before(given):
    try:
        name = signal.Signals[given if given.startswith("SIG") else "SIG" + given].name
    except KeyError:
        name = None
    assert name is None
    with pytest.raises(ContainerError, match=r"^stop_signal: %s is not a signal$" % re.escape(repr(given))):
        O.signal_name(given)
