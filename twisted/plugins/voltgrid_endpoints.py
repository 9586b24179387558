"""Twisted's plugin discovery finds this module (a ``twisted/plugins`` directory without ``__init__.py`` on
``sys.path``) and so learns the ``mtls:`` server endpoint daphne's ``-e`` option takes (OCPP security profile 3)."""

from stations.protocol.tls_endpoint import MutualTlsServerParser

mutual_tls = MutualTlsServerParser()
