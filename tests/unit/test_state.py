"""The two state tables, checked against the spec written out here rather than against
themselves: a transition added, dropped or redirected in `state.py` fails a test."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from backend_client.state import (
    PHASES,
    TRANSITIONS,
    ConnectionStatus,
    IllegalTransition,
    Phase,
    State,
    Step,
    Trigger,
    next_phase,
    next_state,
)

S, T = State, Trigger
#: what the status bar may show after what (docs: a console reconnects on its own)
EXPECTED_STATES: dict[tuple[State, Trigger], State] = {
    (S.OFFLINE, T.START): S.CONNECTING,
    (S.FATAL, T.START): S.CONNECTING,
    (S.CONNECTING, T.CONNECTED): S.AUTHENTICATING,
    (S.CONNECTING, T.LINK_FAILED): S.BACKING_OFF,
    (S.CONNECTING, T.FATAL_ERROR): S.FATAL,
    (S.AUTHENTICATING, T.SUBSCRIBED): S.LIVE,
    (S.AUTHENTICATING, T.LINK_FAILED): S.BACKING_OFF,
    (S.AUTHENTICATING, T.FATAL_ERROR): S.FATAL,
    (S.LIVE, T.LINK_FAILED): S.BACKING_OFF,
    (S.LIVE, T.FATAL_ERROR): S.FATAL,
    (S.BACKING_OFF, T.RETRY): S.CONNECTING,
    **{(s, T.STOP): S.OFFLINE for s in State},
}

P, St = Phase, Step
#: docs/protocol.md section 5: authenticate, then subscribe, then live
EXPECTED_PHASES: dict[tuple[Phase, Step], Phase] = {
    (P.CLOSED, St.OPEN): P.AUTHENTICATING,
    (P.AUTHENTICATING, St.AUTH): P.AUTHENTICATING,
    (P.AUTHENTICATING, St.AUTH_OK): P.AUTHENTICATED,
    (P.AUTHENTICATED, St.SUBSCRIBE): P.REPLAYING,
    (P.REPLAYING, St.SUBSCRIBED): P.LIVE,
    (P.REPLAYING, St.HISTORY_LOST): P.AUTHENTICATED,  # start over: subscribe again from 0
    **{(p, St.CLOSE): P.CLOSED for p in Phase},
}


def test_the_state_table_is_exactly_the_spec() -> None:
    assert TRANSITIONS == EXPECTED_STATES


@pytest.mark.parametrize(("pair", "after"), EXPECTED_STATES.items(), ids=str)
def test_every_legal_transition(pair: tuple[State, Trigger], after: State) -> None:
    assert next_state(*pair) is after


ILLEGAL_STATES = [p for p in itertools.product(State, Trigger) if p not in EXPECTED_STATES]


@pytest.mark.parametrize("pair", ILLEGAL_STATES, ids=str)
def test_every_other_transition_raises_naming_both(pair: tuple[State, Trigger]) -> None:
    state, trigger = pair
    with pytest.raises(IllegalTransition) as info:
        next_state(state, trigger)
    assert str(info.value) == f"{trigger.value} is not possible while {state.value}"


def test_a_link_cannot_go_live_without_authenticating_or_retry_without_failing() -> None:
    # the two mistakes a reconnect loop is most likely to make, spelled out
    assert (S.CONNECTING, T.SUBSCRIBED) in ILLEGAL_STATES
    assert (S.LIVE, T.RETRY) in ILLEGAL_STATES
    assert (S.OFFLINE, T.RETRY) in ILLEGAL_STATES


def test_the_phase_table_is_exactly_the_spec() -> None:
    assert PHASES == EXPECTED_PHASES


@pytest.mark.parametrize(("pair", "after"), EXPECTED_PHASES.items(), ids=str)
def test_every_legal_phase_step(pair: tuple[Phase, Step], after: Phase) -> None:
    assert next_phase(*pair) is after


ILLEGAL_PHASES = [p for p in itertools.product(Phase, Step) if p not in EXPECTED_PHASES]


@pytest.mark.parametrize("pair", ILLEGAL_PHASES, ids=str)
def test_every_other_phase_step_raises(pair: tuple[Phase, Step]) -> None:
    phase, step = pair
    with pytest.raises(
        IllegalTransition, match=f"{step.value} is not possible while {phase.value}"
    ):
        next_phase(phase, step)


def test_status_is_a_value_the_console_cannot_change_under_the_client() -> None:
    status = ConnectionStatus(State.LIVE, since=1.0)
    assert (status.attempt, status.reason, status.queued, status.rtt_ms) == (0, "", 0, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.state = State.OFFLINE  # type: ignore[misc]
