"""ISO 15118 Plug & Charge for OCPP 2.0.1 stations: contract certificates and their status from a V2G PKI provider.

The station asks for what the EV needs (Get15118EVCertificate), for the OCSP status of certificates it checks
(GetCertificateStatus), and to authorise a contract it could not check itself (Authorize with the contract's
certificate or its OCSP data); this app forwards each to the provider chosen by CMS_PNC_PROVIDER (``interface``)
and authorises the contract's eMAID by the accounts rules, so the session is the eMAID owner's.
"""
