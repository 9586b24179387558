"""A driver's billing profile: invoice details, the chosen payment method, the card saved with Stripe."""

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.gateways.interface import CustomerData
from billing.models import BillingProfile, PaymentMethod


def billing_profile_with_customer(*, user, gateway) -> BillingProfile:
    """The user's billing profile, with a Stripe customer created on first need."""
    profile, _ = BillingProfile.objects.get_or_create(user=user)
    if not profile.stripe_customer_id:
        customer_id = gateway.ensure_customer(
            CustomerData(user_id=user.pk, email=user.email, name=profile.billing_name or user.get_full_name())
        )
        BillingProfile.objects.filter(pk=profile.pk).update(stripe_customer_id=customer_id)
        profile.stripe_customer_id = customer_id
    return profile


def card_setup_start(*, user):
    """A SetupIntent the driver confirms in the browser; its webhook saves the card (``setup_intent.succeeded``)."""
    from billing.gateways.stripe import StripeGateway

    gateway = StripeGateway()
    profile = billing_profile_with_customer(user=user, gateway=gateway)
    return gateway.create_setup_intent(customer_id=profile.stripe_customer_id, user_id=user.pk)


@transaction.atomic
def billing_profile_update(
    *, user, payment_method: str, billing_name: str = "", billing_address: str = "", vat_id: str = ""
) -> BillingProfile:
    """Change the details printed on future invoices and the method future payments use."""
    from billing.services.payments import payments_retry_now

    profile, _ = BillingProfile.objects.select_for_update().get_or_create(user=user)
    if payment_method not in PaymentMethod.values:
        raise ValidationError({"payment_method": "Choose the wallet or a card."})
    if payment_method == PaymentMethod.CARD and not profile.has_card:
        raise ValidationError({"payment_method": "Add a card before choosing it."})
    changed_method = profile.payment_method != payment_method
    profile.payment_method = payment_method
    profile.billing_name, profile.billing_address, profile.vat_id = billing_name, billing_address, vat_id
    profile.full_clean()
    profile.save()
    if changed_method:
        payments_retry_now(user_id=user.pk)
    return profile
