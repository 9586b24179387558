"""The Stripe webhook endpoint: verifies the signature, then hands the event to the service."""

import logging

import stripe
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.app_settings import app_settings
from billing.services import stripe_webhook_receive

logger = logging.getLogger(__name__)


@csrf_exempt  # Stripe cannot send our CSRF token; the signature stands in for it.
@require_POST
def stripe_webhook(request):
    if not app_settings.STRIPE_WEBHOOK_SECRET:
        return JsonResponse({"error": "Stripe webhooks are not configured."}, status=503)
    try:
        outcome = stripe_webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except stripe.SignatureVerificationError:
        logger.warning("stripe webhook with a bad signature refused")
        return JsonResponse({"error": "Invalid signature."}, status=400)
    except ValueError:
        return JsonResponse({"error": "Invalid payload."}, status=400)
    return JsonResponse({"outcome": outcome})
