"""Password hasher for station credentials (OCPP security profiles 1 and 2).

Station passwords are machine secrets of at least 16 characters (OCPP 2.0.1 BasicAuthPassword is 16 to
40), so key stretching protects little; what matters is that a reconnect storm of thousands of stations
after a restart does not spend 0.2 s of CPU per handshake, as Django's user-password default does.
"""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class StationPasswordHasher(PBKDF2PasswordHasher):
    algorithm = "station_pbkdf2_sha256"
    iterations = 10_000
