"""The Celery app as test workers run it: a killed worker's unacknowledged task comes back within seconds."""

from cms.celery import app

app.conf.broker_transport_options = {
    "visibility_timeout": 2,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
