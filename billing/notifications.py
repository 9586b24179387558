"""E-mails to drivers about money: a payment that failed (with when we try again, or that we stopped)."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from billing.app_settings import app_settings
from billing.models import Payment
from billing.money import format_money


def notify_payment_failed(*, payment_id: int) -> None:
    payment = Payment.objects.select_related("invoice", "user").get(pk=payment_id)
    context = {
        "payment": payment,
        "invoice": payment.invoice,
        "amount": format_money(payment.amount, payment.currency),
        "gave_up": payment.status == Payment.Status.UNCOLLECTIBLE,
        "billing_url": app_settings.PORTAL_URL + reverse("billing:overview"),
    }
    subject = render_to_string("billing/email/payment_failed_subject.txt", context).strip()
    body = render_to_string("billing/email/payment_failed.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [payment.user.email])
