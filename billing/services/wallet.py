"""The prepaid wallet: every movement is a ledger entry with a unique reference, booked under the wallet's lock."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from billing.app_settings import app_settings
from billing.models import PaymentMethod, Wallet, WalletEntry
from billing.money import round_money


class InsufficientFunds(Exception):
    pass


class WrongCurrency(Exception):
    pass


def _locked_wallet(user_id: int, currency: str) -> Wallet:
    Wallet.objects.bulk_create([Wallet(user_id=user_id, currency=currency)], ignore_conflicts=True)
    return Wallet.objects.select_for_update().get(user_id=user_id)


def wallet_debits(*, debits: list[tuple[int, Decimal, str, str, str]]) -> list[bool]:
    """``wallet_post`` of many debits (user id, amount, currency, reference, description) that may not take a
    wallet below zero, at once: the wallets locked in one order, the entries and balances written in bulk.

    Answers per debit whether it is booked: a reference booked before counts (a replay books nothing again);
    a debit the wallet cannot cover, or in another currency, is not booked. Call inside a transaction.
    """
    if not debits:
        return []
    currencies = {user_id: currency for user_id, _amount, currency, _reference, _description in reversed(debits)}
    Wallet.objects.bulk_create(
        [Wallet(user_id=user_id, currency=currency) for user_id, currency in sorted(currencies.items())],
        ignore_conflicts=True,
    )
    wallets = {
        wallet.user_id: wallet
        for wallet in Wallet.objects.select_for_update().filter(user_id__in=list(currencies)).order_by("pk")
    }
    booked = set(
        WalletEntry.objects.filter(reference__in=[debit[3] for debit in debits]).values_list("reference", flat=True)
    )
    entries, outcome = [], []
    for user_id, amount, currency, reference, description in debits:
        wallet = wallets[user_id]
        if reference in booked:
            outcome.append(True)
            continue
        if wallet.currency != currency or wallet.balance < amount:
            outcome.append(False)
            continue
        wallet.balance -= amount
        entries.append(
            WalletEntry(
                wallet=wallet,
                kind=WalletEntry.Kind.PAYMENT,
                amount=-amount,
                balance_after=wallet.balance,
                reference=reference,
                description=description[:255],
            )
        )
        booked.add(reference)
        outcome.append(True)
    WalletEntry.objects.bulk_create(entries)
    changed = {entry.wallet.pk: entry.wallet.balance for entry in entries}
    if changed:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Wallet._meta.db_table} AS wallet SET balance = new.balance, updated_at = now()"  # noqa: S608 - our own table
                " FROM unnest(%s::bigint[], %s::numeric[]) AS new(id, balance) WHERE wallet.id = new.id",
                [list(changed), list(changed.values())],
            )
    return outcome


@transaction.atomic
def wallet_post(
    *,
    user_id: int,
    amount: Decimal,
    currency: str,
    kind: str,
    reference: str,
    description: str = "",
    allow_negative: bool = True,
    created_by=None,
) -> WalletEntry:
    """Book ``amount`` (negative for a debit) once per ``reference``; a replay returns the first entry."""
    wallet = _locked_wallet(user_id, currency)
    existing = WalletEntry.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    if wallet.currency != currency:
        raise WrongCurrency(f"The wallet holds {wallet.currency}, not {currency}.")
    balance = wallet.balance + amount
    if amount < 0 and balance < 0 and not allow_negative:
        raise InsufficientFunds(f"The wallet holds {wallet.balance:.2f} {wallet.currency}; {-amount:.2f} is due.")
    wallet.balance = balance
    wallet.save(update_fields=["balance", "updated_at"])
    return WalletEntry.objects.create(
        wallet=wallet,
        kind=kind,
        amount=amount,
        balance_after=balance,
        reference=reference,
        description=description[:255],
        created_by=created_by,
    )


def wallet_top_up_confirmed(
    *, user_id: int, amount: Decimal, currency: str, reference: str, description: str = "Top-up by card"
) -> WalletEntry:
    """Credit a top-up paid at the provider, then try again what the empty wallet could not pay."""
    from billing.services.payments import payments_retry_now

    entry = wallet_post(
        user_id=user_id,
        amount=amount,
        currency=currency,
        kind=WalletEntry.Kind.TOP_UP,
        reference=reference,
        description=description,
    )
    payments_retry_now(user_id=user_id, method=PaymentMethod.WALLET)
    return entry


def wallet_adjust(*, user, amount: Decimal, reason: str, by, reference: str) -> WalletEntry:
    """An operator's manual credit or debit (goodwill, bank transfer received, correction)."""
    from billing.services.payments import payments_retry_now

    if not reason.strip():
        raise ValidationError("Say why the wallet is adjusted.")
    wallet = Wallet.objects.filter(user=user).first()
    currency = wallet.currency if wallet else app_settings.CURRENCY
    entry = wallet_post(
        user_id=user.pk,
        amount=round_money(amount, currency),
        currency=currency,
        kind=WalletEntry.Kind.ADJUSTMENT,
        reference=reference,
        description=reason,
        created_by=by,
    )
    if amount > 0:
        payments_retry_now(user_id=user.pk, method=PaymentMethod.WALLET)
    return entry


def wallet_test_top_up(*, user, amount: Decimal, key: str) -> WalletEntry:
    """A top-up paid with the test payment method (demo mode only): credited at once, no money moves.

    ``key`` makes a resubmitted form book once (the form carries it)."""
    from billing.gateways import get_gateway
    from billing.gateways.interface import CustomerData, PaymentData
    from billing.gateways.test import LABEL, test_payments_enabled

    if not test_payments_enabled():
        raise ValidationError("Test payments are not enabled here.")
    wallet = Wallet.objects.filter(user=user).first()
    currency = wallet.currency if wallet else app_settings.CURRENCY
    low, high = app_settings.TOP_UP_LIMITS
    if not low <= amount <= high:
        raise ValidationError(f"Top up between {low} and {high} {currency}.")
    amount = round_money(amount, currency)
    response = get_gateway("test").charge(
        PaymentData(
            payment_id=0,
            amount=amount,
            currency=currency,
            description="Wallet top-up",
            idempotency_key=f"top-up-{user.pk}-{key}",
            customer=CustomerData(user_id=user.pk, email=user.email),
        )
    )
    return wallet_top_up_confirmed(
        user_id=user.pk, amount=amount, currency=currency, reference=response.reference, description=f"Top-up ({LABEL})"
    )


def wallet_top_up_start(*, user, amount: Decimal):
    """A card PaymentIntent for a top-up, confirmed by the driver in the browser (client secret returned)."""
    from billing.gateways.stripe import StripeGateway
    from billing.services.profiles import billing_profile_with_customer

    wallet = Wallet.objects.filter(user=user).first()
    currency = wallet.currency if wallet else app_settings.CURRENCY
    low, high = app_settings.TOP_UP_LIMITS
    if not low <= amount <= high:
        raise ValidationError(f"Top up between {low} and {high} {currency}.")
    amount = round_money(amount, currency)
    gateway = StripeGateway()
    profile = billing_profile_with_customer(user=user, gateway=gateway)
    count = WalletEntry.objects.filter(wallet__user=user, kind=WalletEntry.Kind.TOP_UP).count()
    return gateway.create_top_up_intent(
        customer_id=profile.stripe_customer_id,
        user_id=user.pk,
        amount=amount,
        currency=currency,
        key=f"top-up-{user.pk}-{count}-{amount}",
    )


def wallet_refund(*, user, amount: Decimal, reason: str, by, reference: str) -> WalletEntry:
    """Pay a driver back out of their wallet (the money goes to them outside the system, e.g. by bank
    transfer): a debit that cannot take the wallet below zero (InsufficientFunds)."""
    if not reason.strip():
        raise ValidationError("Say why the wallet is refunded.")
    if amount <= 0:
        raise ValidationError("Refund a positive amount.")
    wallet = Wallet.objects.filter(user=user).first()
    currency = wallet.currency if wallet else app_settings.CURRENCY
    return wallet_post(
        user_id=user.pk,
        amount=-round_money(amount, currency),
        currency=currency,
        kind=WalletEntry.Kind.REFUND,
        reference=reference,
        description=reason,
        allow_negative=False,
        created_by=by,
    )
