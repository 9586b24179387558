"""What the sessions app announces to the apps that follow it, without importing them."""

from django.dispatch import Signal

# A session has stopped (sent inside the database transaction that stopped it), with ``transaction`` (the
# session) and ``estimated``: True when the CSMS closed a session its station never stopped (the energy an
# estimate the station's own stop may still replace), False for the station's stop.
session_stopped = Signal()
