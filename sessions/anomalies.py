"""Anomalies: what the CSMS corrected or discarded in a session's data, kept on the session for the operator.

Bad input is never silently rewritten: every rule that clamps a timestamp, drops a meter glitch or closes
a session left open records one entry here, and the session is shown as flagged. Codes are short stable
identifiers (``meter_glitch``, ``start_clamped``, ...); ``detail`` says what was sent and what was kept.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sessions.models import Transaction

# A session the station left open and the CSMS completed with an estimate (its last register reading): a
# StopTransaction still in the station's queue may replace that estimate, so billing waits before pricing it.
ESTIMATED_STOP_CODES = ("closed_by_status", "superseded_by_start")
# The station's own StopTransaction arrived after such an estimate and replaced it.
LATE_STOP_CODE = "late_stop"


def anomaly(code: str, detail: str) -> dict:
    """One entry of ``Transaction.anomalies``."""
    return {"code": code, "detail": detail[:500], "at": timezone.now().isoformat()}


def anomalies_record(*, transaction_id: int, entries: list[dict]) -> None:
    """Append entries to a stored session, skipping any it already carries with the same code and detail
    (so a replay or a second pricing run adds nothing). Locks the row: concurrent writers don't lose entries."""
    if not entries:
        return
    with transaction.atomic():
        session = Transaction.objects.select_for_update().only("anomalies").get(pk=transaction_id)
        known = {(entry.get("code"), entry.get("detail")) for entry in session.anomalies}
        new = [entry for entry in entries if (entry["code"], entry["detail"]) not in known]
        if new:
            session.anomalies = [*session.anomalies, *new]
            session.save(update_fields=["anomalies"])


def anomaly_codes(session: Transaction) -> list[str]:
    return [entry.get("code", "") for entry in session.anomalies]


def estimated_stop_q() -> Q:
    """Sessions whose stop is still the CSMS's estimate (see ESTIMATED_STOP_CODES): no late StopTransaction
    has replaced it. For a queryset filter."""
    estimated = Q()
    for code in ESTIMATED_STOP_CODES:
        estimated |= Q(anomalies__contains=[{"code": code}])
    return estimated & ~Q(anomalies__contains=[{"code": LATE_STOP_CODE}])
