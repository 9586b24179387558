"""Settings of the stations app, each with its default, overridable in Django settings or the environment."""

import json

from cms.app_settings import as_bool, as_int_list, setting


class AppSettings:
    @property
    def HEARTBEAT_INTERVAL(self) -> int:
        """Seconds between heartbeats asked of a station in BootNotification."""
        return setting("CMS_OCPP_HEARTBEAT_INTERVAL", 300, int)

    @property
    def AUTO_REGISTER(self) -> bool:
        """Accept unknown station ids as Pending instead of refusing them."""
        return setting("CMS_OCPP_AUTO_REGISTER", False, as_bool)

    @property
    def RESPONSE_TIMEOUT(self) -> float:
        """Seconds to wait for a station's answer to a command."""
        return setting("CMS_OCPP_RESPONSE_TIMEOUT", 30.0, float)

    @property
    def NODE_LEASE_SECONDS(self) -> float:
        """A daphne node that has not renewed its lease for this long is dead: its stations go offline."""
        return setting("CMS_OCPP_NODE_LEASE_SECONDS", 30.0, float)

    @property
    def NODE_RENEW_SECONDS(self) -> float:
        """How often a daphne node renews its lease (and looks for expired ones); well under the lease."""
        return setting("CMS_OCPP_NODE_RENEW_SECONDS", 5.0, float)

    @property
    def COST_UPDATE_SECONDS(self) -> float:
        """Least time between two running costs (OCPP 2.0.1 CostUpdated) sent for one session; 0: with every
        TransactionEvent Updated that carries meter values."""
        return setting("CMS_OCPP_COST_UPDATE_SECONDS", 60.0, float)

    @property
    def MAX_FRAME_BYTES(self) -> int:
        """Largest frame accepted from a station; a larger one is answered with FormationViolation.

        daphne itself closes the socket on a message over its ``--websocket_max_message_size`` (1 MiB).
        """
        return setting("CMS_OCPP_MAX_FRAME_BYTES", 64 * 1024, int)

    @property
    def MESSAGE_RETENTION_DAYS(self) -> int:
        """Days the OCPP message log is kept (purged hourly by a Celery beat task); 0 keeps it forever."""
        return setting("CMS_OCPP_MESSAGE_RETENTION_DAYS", 30, int)

    @property
    def FRAME_LOG_FLUSH_MS(self) -> float:
        """Longest time a frame waits in a daphne process before the message log is written."""
        return setting("CMS_OCPP_FRAME_LOG_FLUSH_MS", 250.0, float)

    @property
    def FRAME_LOG_BATCH(self) -> int:
        """Frames that make the message log write at once, without waiting for the flush interval."""
        return setting("CMS_OCPP_FRAME_LOG_BATCH", 500, int)

    @property
    def DATA_TRANSFER_HANDLERS(self) -> dict[str, str]:
        """vendorId → dotted path of the callable answering a station's DataTransfer (JSON in the environment)."""
        return setting("CMS_OCPP_DATA_TRANSFER_HANDLERS", {}, json.loads)

    # Alerts (monitoring.alerts) and remote maintenance (monitoring.maintenance).

    @property
    def ALERT_OFFLINE_HEARTBEATS(self) -> float:
        """A station that has sent nothing for this many heartbeat intervals is alerted as offline."""
        return setting("CMS_ALERT_OFFLINE_HEARTBEATS", 3.0, float)

    @property
    def ALERT_STUCK_SESSION_MINUTES(self) -> float:
        """A session of a connected station without meter values for this long is alerted as stuck; 0: never."""
        return setting("CMS_ALERT_STUCK_SESSION_MINUTES", 30.0, float)

    @property
    def ALERT_RETRY_MINUTES(self) -> list[int]:
        """Waits between attempts to deliver an alert notification (comma-separated); after the last, given up."""
        return setting("CMS_ALERT_RETRY_MINUTES", [1, 5, 15, 60, 240], as_int_list)

    @property
    def ALERT_WEBHOOK_TIMEOUT(self) -> float:
        """Seconds an alert webhook has to answer."""
        return setting("CMS_ALERT_WEBHOOK_TIMEOUT", 10.0, float)

    @property
    def PORTAL_URL(self) -> str:
        """The portal's public address, for links in alert notifications."""
        return setting("CMS_PORTAL_URL", "http://127.0.0.1:8000").rstrip("/")

    @property
    def STATION_FILES_URL(self) -> str:
        """The address stations download firmware from and upload diagnostics to: CMS_STATION_FILES_URL, else
        CMS_PORTAL_URL, else the address runcms listens on (CMS_SERVER_URL, which it sets itself)."""
        explicit = setting("CMS_STATION_FILES_URL", "") or setting("CMS_PORTAL_URL", "")
        return (explicit or setting("CMS_SERVER_URL", "") or "http://127.0.0.1:8000").rstrip("/")

    @property
    def MAINTENANCE_CONCURRENCY(self) -> int:
        """Stations a bulk maintenance job commands at the same time."""
        return setting("CMS_MAINTENANCE_CONCURRENCY", 20, int)

    @property
    def DIAGNOSTICS_MAX_BYTES(self) -> int:
        """Largest diagnostics file a station may upload."""
        return setting("CMS_DIAGNOSTICS_MAX_BYTES", 50 * 1024 * 1024, int)

    @property
    def DIAGNOSTICS_WAIT_MINUTES(self) -> float:
        """How long a diagnostics job waits for the station's upload before it fails."""
        return setting("CMS_DIAGNOSTICS_WAIT_MINUTES", 60.0, float)

    @property
    def FIRMWARE_MAX_BYTES(self) -> int:
        """Largest firmware file an operator may upload."""
        return setting("CMS_FIRMWARE_MAX_BYTES", 1024 * 1024 * 1024, int)

    @property
    def FIRMWARE_WAIT_HOURS(self) -> float:
        """How long a firmware update may take (download, install, reboot) before the job fails it."""
        return setting("CMS_FIRMWARE_WAIT_HOURS", 6.0, float)

    @property
    def FIRMWARE_SIGNING_KEY(self) -> str:
        """Path of the operator's PEM private key (RSA or EC, unencrypted) that signs firmware files on upload when
        asked; empty: operators attach the vendor's signature instead."""
        return setting("CMS_FIRMWARE_SIGNING_KEY", "")

    @property
    def FIRMWARE_SIGNING_CERTIFICATE(self) -> str:
        """Path of the PEM certificate of CMS_FIRMWARE_SIGNING_KEY, sent to stations with the signature."""
        return setting("CMS_FIRMWARE_SIGNING_CERTIFICATE", "")

    # Station credentials (stations.security, stations.client_certificates, stations.login_throttle).

    @property
    def CLIENT_CA_FILE(self) -> str:
        """PEM file of the CA(s) that issue station client certificates (security profile 3); unset: profile 3 off."""
        return setting("CMS_OCPP_CLIENT_CA_FILE", "")

    @property
    def CLIENT_CERT_ID_FIELD(self) -> str:
        """The subject field of a client certificate that must equal the station id: CN, serialNumber, UID or OU."""
        return setting("CMS_OCPP_CLIENT_CERT_ID_FIELD", "CN")

    @property
    def LOGIN_FAILURES_PER_STATION(self) -> int:
        """Failed handshakes for one station id within the window, after which that id is refused (429) until the
        window ends; 0: no limit."""
        return setting("CMS_OCPP_LOGIN_FAILURES_PER_STATION", 10, int)

    @property
    def LOGIN_FAILURES_PER_ADDRESS(self) -> int:
        """Failed handshakes from one remote address within the window, after which it is refused; 0: no limit."""
        return setting("CMS_OCPP_LOGIN_FAILURES_PER_ADDRESS", 30, int)

    @property
    def LOGIN_FAILURE_WINDOW_SECONDS(self) -> int:
        """How long a failed station handshake counts, from the first failure of a series."""
        return setting("CMS_OCPP_LOGIN_FAILURE_WINDOW_SECONDS", 300, int)

    @property
    def HANDSHAKES_WAITING(self) -> int:
        """Handshakes a process lets wait for their turn; beyond, one is refused at once with 503 and Retry-After.
        From half as many the process stops accepting new connections, until a quarter are left
        (``stations.protocol.accepting``): the rest wait in the kernel's accept queue or retry their SYN.

        In a reconnect storm of more stations than a process can take in before their handshake timeout, the
        ones queued past it are dropped by daphne and come back at once: the process then spends itself on
        handshakes it will drop, and takes none in (10,000 stations on a busy node). Refusing the excess at
        once keeps the queue to what is served in time; the rest come back after their back-off.
        """
        return setting("CMS_OCPP_HANDSHAKES_WAITING", 1000, int)

    @property
    def HANDSHAKE_MAX_WAIT_SECONDS(self) -> float:
        """How long a handshake may wait for its turn; one that waited longer is refused with 503 and Retry-After
        when its turn comes, instead of being logged in.

        Keep it under the server's handshake timeout (``runcms``: 30 s) and the stations' connect timeouts: past
        those, the station has given up and the login, the online and offline records are work for nobody, while
        the fresh handshakes behind wait and time out in turn.
        """
        return setting("CMS_OCPP_HANDSHAKE_MAX_WAIT_SECONDS", 10.0, float)


app_settings = AppSettings()
