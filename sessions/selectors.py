"""Reads of charging sessions for the operator's portal."""

from sessions.models import Transaction


def active_sessions_count() -> int:
    """Sessions running now (started, not yet stopped), across the network."""
    return Transaction.objects.filter(status=Transaction.Status.ACTIVE).count()
