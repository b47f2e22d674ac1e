"""pages/ui/session.py's hand-over of a click whose script runner a newer click stops before the runner's
thread took it, checked on Streamlit's own request queue and protobufs (the browser side of the same
guard: tests/test_callbacks.py)."""

from __future__ import annotations

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData, ScriptRequests, ScriptRequestType

from pages.ui.session import _carry_over, take_untaken


def states(**values) -> WidgetStates:
    """A WidgetStates: True/False are button triggers, strings are radio values."""
    out = WidgetStates()
    for wid, value in values.items():
        w = WidgetState(id=wid)
        if isinstance(value, bool):
            w.trigger_value = value
        else:
            w.string_value = value
        out.widgets.append(w)
    return out


def as_dict(ws: WidgetStates) -> dict:
    return {w.id: getattr(w, w.WhichOneof("value")) for w in ws.widgets}


def test_a_request_not_yet_taken_is_taken_and_its_runner_stopped():
    requests = ScriptRequests()
    requests.request_rerun(RerunData(widget_states=states(start=True, band="minmax")))
    untaken = take_untaken(requests)
    assert as_dict(untaken) == {"start": True, "band": "minmax"}
    assert requests.on_scriptrunner_ready().type == ScriptRequestType.STOP  # the runner never runs it


def test_a_running_runner_keeps_its_request():
    requests = ScriptRequests()
    requests.request_rerun(RerunData(widget_states=states(start=True)))
    assert requests.on_scriptrunner_ready().type == ScriptRequestType.RERUN  # its thread took it
    assert take_untaken(requests) is None
    assert requests.on_scriptrunner_yield() is None  # not stopped by the look


class FakeRunner:
    def __init__(self, requests):
        self._requests = requests


class FakeSession:
    def __init__(self, runner):
        self._scriptrunner = runner


def test_a_click_that_stops_an_unstarted_runner_carries_its_press():
    seen = []
    request_rerun = _carry_over(lambda self, client_state: seen.append(client_state))
    requests = ScriptRequests()
    requests.request_rerun(RerunData(widget_states=states(start=True, band="minmax")))
    newer = ClientState(widget_states=states(start=False, band="sd"))
    request_rerun(FakeSession(FakeRunner(requests)), newer)
    assert as_dict(seen[0].widget_states) == {"start": True, "band": "sd"}  # the press kept, newer value
    assert requests.on_scriptrunner_ready().type == ScriptRequestType.STOP


def test_a_fragment_run_or_a_started_runner_changes_nothing():
    seen = []
    request_rerun = _carry_over(lambda self, client_state: seen.append(as_dict(client_state.widget_states)))
    requests = ScriptRequests()
    requests.request_rerun(RerunData(widget_states=states(start=True)))
    session = FakeSession(FakeRunner(requests))
    request_rerun(session, ClientState(widget_states=states(band="sd"), fragment_id="f"))
    requests.on_scriptrunner_ready()  # now its thread takes it
    request_rerun(session, ClientState(widget_states=states(band="sd")))
    assert seen == [{"band": "sd"}, {"band": "sd"}]
