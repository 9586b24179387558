"""Password hashing for station credentials (OCPP security profiles 1 and 2), and the cache of verified ones.

Station passwords are machine secrets of at least 16 characters (OCPP 2.0.1 BasicAuthPassword is 16 to
40), so key stretching protects little; what matters is that a reconnect storm of thousands of stations
after a restart does not spend 0.2 s of CPU per handshake, as Django's user-password default does.
"""

import threading
from collections import OrderedDict
from collections.abc import Sequence

from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password
from django.core.cache import caches
from django.utils.crypto import constant_time_compare, salted_hmac


class StationPasswordHasher(PBKDF2PasswordHasher):
    algorithm = "station_pbkdf2_sha256"
    iterations = 10_000


class VerifiedCredentials:
    """Station passwords verified before, so that a reconnect does not pay the key derivation again.

    After a restart or a network outage every station reconnects at once: 10,000 derivations are minutes of
    CPU, past the handshake timeout of most. An entry is a keyed hash, ``HMAC(SECRET_KEY, stored hash +
    presented password)``, kept per station in this process (no round trip) and in Django's cache (Redis when
    configured: it outlives a restart and is shared by every node, so a station moving between nodes is not
    a new derivation either).

    Never weaker than the stored hash against someone who reads the cache (Redis or this process's memory):
    without SECRET_KEY not one guess can be tested against an entry; with SECRET_KEY as well they hold what
    signs every operator's session, and each guess still needs the stored hash's salt from the database. The
    passwords themselves are machine secrets of 16 characters and more, out of reach of guessing either way.
    The stored hash is in the key: a rotation (a new hash, a new salt) makes the old entry match nothing, so
    a changed password is never accepted from the cache; a wrong one always goes to the full check.
    """

    KEY_SALT = "stations.hashers.VerifiedCredentials"
    # A station away longer than this pays the derivation once more when it returns.
    SHARED_TIMEOUT = 30 * 24 * 3600

    def __init__(self, size: int):
        self.size = size
        self._local: OrderedDict[int, str] = OrderedDict()
        self._lock = threading.Lock()
        self._cache = None

    @property
    def shared(self):
        """One client of the shared cache for the process. ``django.core.cache.cache`` is one per context, and
        each call through ``in_db_pool`` is a new context: a new Redis connection per handshake."""
        if self._cache is None:
            self._cache = caches.create_connection("default")
        return self._cache

    def matches(self, *, station_pk: int, password_hash: str, password: str) -> bool:
        """Whether ``password`` is the one ``password_hash`` was made from (``check_password``, once)."""
        if self.known([(station_pk, password_hash, [password])])[0]:
            return True
        if not check_password(password, password_hash):
            return False
        digest = self._digest(password_hash, password)
        self._remember(station_pk, digest)
        self.shared.set(self._shared_key(station_pk), digest, self.SHARED_TIMEOUT)
        return True

    def known(self, candidates: Sequence[tuple[int, str, Sequence[str]]]) -> list[bool]:
        """For each (station pk, stored hash, the forms its password was sent in): whether one form was verified
        before, from this process's memory or else the shared cache, with one round trip for all (a reconnect
        storm's handshakes come many at once). False is "not known", not "wrong": ``matches`` decides those."""
        with self._lock:
            remembered = [self._local.get(station_pk) for station_pk, _, _ in candidates]
        missing = [
            self._shared_key(station_pk)
            for (station_pk, _, _), seen in zip(candidates, remembered, strict=True)
            if not seen
        ]
        shared = self.shared.get_many(missing) if missing else {}
        answers = []
        for (station_pk, password_hash, forms), seen in zip(candidates, remembered, strict=True):
            digest = seen or shared.get(self._shared_key(station_pk))
            verified = digest is not None and any(
                constant_time_compare(digest, self._digest(password_hash, form)) for form in forms
            )
            if verified:
                self._remember(station_pk, digest)  # and most recently used
            answers.append(verified)
        return answers

    def _digest(self, password_hash: str, password: str) -> str:
        return salted_hmac(self.KEY_SALT, f"{password_hash}\0{password}", algorithm="sha256").hexdigest()

    def _remember(self, station_pk: int, digest: str) -> None:
        with self._lock:
            self._local[station_pk] = digest
            self._local.move_to_end(station_pk)
            if len(self._local) > self.size:
                self._local.popitem(last=False)

    @staticmethod
    def _shared_key(station_pk: int) -> str:
        return f"stations:verified-credential:{station_pk}"
