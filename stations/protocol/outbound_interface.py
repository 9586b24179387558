"""The contract between the version-neutral verbs (``outbound.py``) and the per-version builders.

A version's module (``v16/outbound.py``, ``v201/outbound.py``) offers, under the verbs' own names,
functions returning ``(action, payload)``; ``UNSUPPORTED`` maps the verbs it lacks to the reason shown
to the operator; ``interpret(action, response)`` reads the station's answer as an ``Answer``;
``started_session`` / ``stopped_session`` tell which session a remote start or stop is about.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class Unsupported(ValueError):
    """The station's OCPP version has no such command (or it is not spoken here yet); the message says why."""


class Outcome(StrEnum):
    """What the station's answer means, whatever words its version uses."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"  # accepted, to take effect once the session in progress ends
    REBOOT_REQUIRED = "reboot_required"  # accepted, to take effect after a reboot
    NOTHING_TO_DO = "nothing_to_do"  # accepted, with nothing to do (e.g. no diagnostics to upload)
    REJECTED = "rejected"
    NOT_SUPPORTED = "not_supported"
    FAILED = "failed"
    VERSION_MISMATCH = "version_mismatch"


ACCEPTING = frozenset({Outcome.ACCEPTED, Outcome.SCHEDULED, Outcome.REBOOT_REQUIRED})


class OutboundCall(NamedTuple):
    """The OCPP action and its wire payload (camelCase) that carry out a verb on one version."""

    action: str
    payload: dict


@dataclass(frozen=True)
class Answer:
    """A station's answer: the neutral ``outcome``, the station's own ``status`` word (for display; "" when its
    answer has none) and what the answer carries, under neutral names (``keys``, ``file_name``, ``version``...)."""

    outcome: Outcome
    status: str = ""
    data: dict = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.outcome in ACCEPTING


# The status words of both versions; an unknown word is a refusal.
STATUS_OUTCOMES = {
    "Accepted": Outcome.ACCEPTED,
    "AcceptedCanceled": Outcome.ACCEPTED,  # 2.0.1: accepted, a request in progress was cancelled for it
    "Unlocked": Outcome.ACCEPTED,
    "Scheduled": Outcome.SCHEDULED,
    "RebootRequired": Outcome.REBOOT_REQUIRED,
    "NotSupported": Outcome.NOT_SUPPORTED,
    "NotImplemented": Outcome.NOT_SUPPORTED,
    "Failed": Outcome.FAILED,
    "UnlockFailed": Outcome.FAILED,
    "VersionMismatch": Outcome.VERSION_MISMATCH,
    "EmptyResultSet": Outcome.NOTHING_TO_DO,  # 2.0.1 GetReport: no component matches
}


def status_answer(response: dict, **data) -> Answer:
    """The answer of a message whose ``status`` field says it all; ``data`` what else it carries."""
    status = str(response.get("status") or "")
    return Answer(STATUS_OUTCOMES.get(status, Outcome.REJECTED), status, data)
