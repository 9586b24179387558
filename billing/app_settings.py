"""Settings of the billing app, each with its default, overridable in Django settings or the environment.

Stripe's secrets are read from the environment only (never from a settings file that could be committed).
"""

import os

from cms.app_settings import as_int_list, setting


class AppSettings:
    @property
    def CURRENCY(self) -> str:
        """Currency of new wallets and the default of new tariffs (ISO 4217)."""
        return setting("CMS_BILLING_CURRENCY", "EUR").upper()

    @property
    def WALLET_MIN_BALANCE(self):
        """A wallet must hold more than this (after unbilled sessions) for its owner to start charging."""
        from decimal import Decimal

        return Decimal(str(setting("CMS_BILLING_WALLET_MIN_BALANCE", "0")))

    @property
    def PAYMENT_RETRY_MINUTES(self) -> list[int]:
        """Back-off between attempts to collect a failed payment; after the last one it is uncollectible."""
        return setting("CMS_BILLING_PAYMENT_RETRY_MINUTES", [60, 360, 1440, 4320], as_int_list)

    @property
    def TOP_UP_LIMITS(self):
        """Smallest and largest wallet top-up a driver may pay by card, in the wallet's currency."""
        from decimal import Decimal

        low, high = str(setting("CMS_BILLING_TOP_UP_LIMITS", "5,500")).split(",")
        return Decimal(low), Decimal(high)

    @property
    def TEST_PAYMENTS(self) -> bool | None:
        """Offer the test payment method (no real money, ``billing.gateways.test``): true or false; unset means
        only while the demo network is seeded."""
        from cms.app_settings import as_bool

        return setting("CMS_BILLING_TEST_PAYMENTS", None, as_bool)

    @property
    def PORTAL_URL(self) -> str:
        """The portal's public address, for links in e-mails (e.g. https://charge.example.com)."""
        return setting("CMS_PORTAL_URL", "").rstrip("/")

    @property
    def MAX_CHARGER_POWER_W(self) -> int:
        """Upper bound of a plausible power; meter jumps beyond it are resets, rollovers or glitches."""
        return setting("CMS_BILLING_MAX_CHARGER_POWER_W", 400_000, int)

    @property
    def ESTIMATE_GRACE_MINUTES(self) -> int:
        """A session the station left open, closed by the CSMS with an estimate, is priced only this long after
        (a StopTransaction from the station's offline queue replaces the estimate meanwhile)."""
        return setting("CMS_BILLING_ESTIMATE_GRACE_MINUTES", 30, int)

    @property
    def MAX_SESSION_DAYS(self) -> int:
        """A session lasting longer than this (by its own timestamps) is held for review, not priced."""
        return setting("CMS_BILLING_MAX_SESSION_DAYS", 31, int)

    @property
    def STRIPE_API_KEY(self) -> str:
        return os.environ.get("STRIPE_API_KEY", "")

    @property
    def STRIPE_WEBHOOK_SECRET(self) -> str:
        return os.environ.get("STRIPE_WEBHOOK_SECRET", "")

    @property
    def STRIPE_PUBLISHABLE_KEY(self) -> str:
        return os.environ.get("STRIPE_PUBLISHABLE_KEY", "")

    @property
    def STRIPE_API_BASE(self) -> str:
        """Stripe's API address; a local server speaking its API (tests, stripe-mock) can stand in."""
        return setting("CMS_BILLING_STRIPE_API_BASE", "https://api.stripe.com")

    @property
    def TEST_HOOK_DIR(self) -> str:
        """Test-only: a directory where tasks announce a pause point and wait for a release file."""
        return setting("CMS_BILLING_TEST_HOOK_DIR", "")


app_settings = AppSettings()
