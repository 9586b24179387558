"""``stations.protocol.autobahn_debug``: autobahn's debug lines pretty-print only when written."""

import inspect
import logging
from pprint import pformat

from autobahn import util
from autobahn.websocket import protocol

from stations.protocol import autobahn_debug


def test_autobahn_still_pretty_prints_its_options_for_a_debug_line_at_each_connection():
    autobahn_debug.install()
    source = inspect.getsource(protocol.WebSocketProtocol._connectionMade)
    assert "attrs=pformat(configAttrLog)" in source
    assert protocol.pformat is autobahn_debug.Formatted


def test_the_options_are_pretty_printed_when_the_line_is_written_only(monkeypatch):
    printed = []
    monkeypatch.setattr(autobahn_debug, "pformat", lambda value: printed.append(value) or "printed")
    options = [("openHandshakeTimeout", 5, "WebSocketServerFactory")]
    formatted = autobahn_debug.Formatted(options)
    assert printed == []
    assert f"\n{formatted}" == "\nprinted"
    assert printed == [options]


def test_a_debug_line_reads_as_autobahn_wrote_it(caplog):
    options = [("openHandshakeTimeout", 5, "WebSocketServerFactory"), ("autoPingInterval", 20, "WebSocketProtocol")]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("bench").debug("%s", autobahn_debug.Formatted(options))
    assert caplog.records[0].getMessage() == pformat(options)
    assert f"{autobahn_debug.Formatted(options)}" == pformat(options)


def test_timings_still_print_as_text():
    autobahn_debug.install()
    timings = protocol.Timings()
    timings.track("onOpen")
    assert str(timings) == pformat(timings._timings)


def test_the_arguments_of_the_line_written_for_every_frame_sent_are_coloured_only_when_it_is_written(caplog):
    autobahn_debug.install()
    source = inspect.getsource(protocol.WebSocketProtocol.sendData)
    assert "func=hltype(self.sendData)" in source and "data_len=hlval(len(data))" in source
    data_len = protocol.hlval(42)
    assert isinstance(data_len, autobahn_debug.Formatted)
    assert str(data_len) == util.hlval(42)
    assert f"{protocol.hltype(test_timings_still_print_as_text)}" == util.hltype(test_timings_still_print_as_text)
    assert str(protocol.hlval("x", color="red", bold=False)) == util.hlval("x", color="red", bold=False)
