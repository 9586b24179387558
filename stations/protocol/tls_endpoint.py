"""The ``mtls:`` endpoint for daphne: TLS that requires a client certificate issued by the operator's CA (OCPP
security profile 3), where twisted's own ``ssl:`` endpoint string cannot ask for client certificates at all.

    daphne -e mtls:443:privateKey=server.key:certKey=fullchain.pem:caCerts=station-ca.pem cms.asgi:application

``caCerts`` defaults to ``CMS_OCPP_CLIENT_CA_FILE``. A client without a certificate, or with one that is
expired or not issued by those CAs, fails the TLS handshake: it never reaches the application.
``clientCertificate=optional`` lets clients without one in (stations of profiles 1 and 2, the portal) on the
same port; a certificate that is sent is still verified. Twisted finds
the parser through ``twisted/plugins/voltgrid_endpoints.py`` (daphne runs from the project root, which is on
``sys.path``); the verified certificate reaches the consumer in the ASGI TLS extension of the scope
(``stations/protocol/handshake_denial.py``). Django-free: twisted may load it before the settings.
"""

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import crypto
from twisted.internet.endpoints import SSL4ServerEndpoint
from twisted.internet.interfaces import IStreamServerEndpointStringParser
from twisted.internet.ssl import CertificateOptions
from twisted.plugin import IPlugin
from zope.interface import implementer

PREFIX = "mtls"
CA_FILE_VARIABLE = "CMS_OCPP_CLIENT_CA_FILE"


def pem_certificates(path: str) -> list[x509.Certificate]:
    """Every certificate of a PEM file, in order; a file without any is an error worth stopping for."""
    certificates = x509.load_pem_x509_certificates(Path(path).read_bytes())
    if not certificates:
        raise ValueError(f"{path}: no PEM certificate in it")
    return certificates


def client_certificate_options(
    *, private_key: str, certificate: str, ca_file: str, extra_chain: str | None = None, required: bool = True
) -> CertificateOptions:
    """Server TLS options that ask for a client certificate and verify it against the CAs of ``ca_file``; unless
    ``required``, a client may send none (a certificate that is sent and fails still ends the handshake)."""
    key = serialization.load_pem_private_key(Path(private_key).read_bytes(), password=None)
    served, *chain = pem_certificates(certificate)
    if extra_chain:
        chain += pem_certificates(extra_chain)
    return CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(key),
        certificate=crypto.X509.from_cryptography(served),
        extraCertChain=[crypto.X509.from_cryptography(link) for link in chain],
        verify=True,
        requireCertificate=required,
        caCerts=[crypto.X509.from_cryptography(ca) for ca in pem_certificates(ca_file)],
    )


@implementer(IPlugin, IStreamServerEndpointStringParser)
class MutualTlsServerParser:
    prefix = PREFIX

    def parseStreamServer(
        self,
        reactor,
        port,
        privateKey="server.pem",
        certKey=None,
        caCerts=None,
        interface="",
        backlog=50,
        extraCertChain=None,
        clientCertificate="required",
    ):
        ca_file = caCerts or os.environ.get(CA_FILE_VARIABLE, "")
        if not ca_file:
            raise ValueError(f"{PREFIX}: give caCerts=<PEM file of the station CA> or set {CA_FILE_VARIABLE}")
        if clientCertificate not in ("required", "optional"):
            raise ValueError(f"{PREFIX}: clientCertificate is required or optional, not {clientCertificate!r}")
        options = client_certificate_options(
            private_key=privateKey,
            certificate=certKey or privateKey,
            ca_file=ca_file,
            extra_chain=extraCertChain,
            required=clientCertificate == "required",
        )
        return SSL4ServerEndpoint(reactor, int(port), options, backlog=int(backlog), interface=interface)
