"""The billing API: tariffs (finance), invoices (own, or all for finance), wallet, estimates, running cost."""

from dataclasses import asdict

from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from accounts.roles import Role, user_has_role
from billing import selectors
from billing.api.serializers import (
    CanStartSerializer,
    EstimateQuerySerializer,
    InvoiceSerializer,
    NoPriceSerializer,
    PaymentSerializer,
    PriceSerializer,
    TariffSerializer,
    WalletSerializer,
)
from billing.forms import InvoiceFilterForm
from billing.models import Invoice, Tariff, Wallet
from billing.pdf import invoice_pdf
from billing.views import MONEY_ROLES

MONEY_READ_ROLES = (*MONEY_ROLES, Role.ANALYST)  # analysts read all of billing, change nothing

INVOICE_FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=Invoice.Status.values),
    OpenApiParameter("kind", OpenApiTypes.STR, enum=Invoice.Kind.values),
    OpenApiParameter("purpose", OpenApiTypes.STR, enum=Invoice.Purpose.values),
    OpenApiParameter("customer", OpenApiTypes.STR, description="Customer e-mail contains (finance and analysts)."),
    OpenApiParameter("issued_from", OpenApiTypes.DATE),
    OpenApiParameter("issued_to", OpenApiTypes.DATE),
]


PRICE_OR_NONE = PolymorphicProxySerializer(
    component_name="PriceOrNoTariff", serializers=[PriceSerializer, NoPriceSerializer], resource_type_field_name=None
)
NO_STATION = OpenApiResponse(description="There is no station with this id.")


def _price_body(tariff, price) -> dict:
    if price is None:
        return {"tariff": None, "detail": "No tariff applies here."}
    body = asdict(price)
    body["tariff"] = tariff.name if tariff else None
    return PriceSerializer(body).data


@extend_schema_view(
    list=extend_schema(summary="List tariffs"),
    create=extend_schema(summary="Create a tariff (with its periods)"),
    update=extend_schema(summary="Replace a tariff"),
    partial_update=extend_schema(summary="Change a tariff"),
)
class TariffViewSet(viewsets.ModelViewSet):
    """Tariffs: finance and operator admins manage them, analysts read them."""

    serializer_class = TariffSerializer
    lookup_value_converter = "int"
    permission_classes = [role_permission(*MONEY_ROLES, read_only=(Role.ANALYST,))]
    queryset = Tariff.objects.prefetch_related("periods").order_by("name", "-valid_from")


@extend_schema_view(
    list=extend_schema(
        summary="List invoices: a driver's own, or every invoice for finance and analysts", parameters=INVOICE_FILTERS
    ),
    retrieve=extend_schema(summary="An invoice with its lines"),
)
class InvoiceViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = InvoiceSerializer
    lookup_value_converter = "int"

    def get_queryset(self):
        user = self.request.user
        form = InvoiceFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        filters = form.cleaned_data
        if user_has_role(user, *MONEY_READ_ROLES):
            queryset = selectors.invoices_for_staff(filters=filters).exclude(status=Invoice.Status.DRAFT)
        else:
            queryset = selectors.invoices_for_staff(filters={**filters, "customer": None, "operator": None})
            queryset = queryset.filter(customer=user).exclude(status=Invoice.Status.DRAFT)
        return queryset.select_related("customer", "credited_invoice", "payment").prefetch_related(
            "lines__session_charge"
        )

    @extend_schema(summary="The invoice as PDF", responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        from django.http import HttpResponse

        invoice = self.get_object()
        response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
        return response


class MyWalletView(APIView):
    @extend_schema(
        summary="My wallet: balance, what is available to charge with, movements", responses=WalletSerializer
    )
    def get(self, request):
        wallet = Wallet.objects.filter(user=request.user).first() or Wallet(user=request.user, currency="")
        wallet.available, currency = selectors.wallet_available_balance(request.user)
        wallet.currency = wallet.currency or currency
        if wallet.pk is None:
            return Response({"currency": currency, "balance": "0", "available": str(wallet.available), "entries": []})
        return Response(WalletSerializer(wallet).data)


class CanStartView(APIView):
    @extend_schema(
        summary="May I start charging (as far as money goes)?",
        responses={200: CanStartSerializer, 404: NO_STATION},
        parameters=[OpenApiParameter("station", OpenApiTypes.STR, description="OCPP id (optional).")],
    )
    def get(self, request):
        from stations.models import Station

        station = None
        if request.query_params.get("station"):
            station = get_object_or_404(Station, ocpp_id=request.query_params["station"])
        allowed, reason = selectors.user_can_start_charging(request.user, station=station)
        return Response(CanStartSerializer({"allowed": allowed, "reason": reason}).data)


class EstimateView(APIView):
    @extend_schema(
        summary="What a planned session would cost, before starting it",
        parameters=[EstimateQuerySerializer],
        responses={200: PRICE_OR_NONE, 400: OpenApiResponse(description="Field errors."), 404: NO_STATION},
    )
    def get(self, request):
        from stations.models import Station

        query = EstimateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        station = get_object_or_404(Station.objects.select_related("site"), ocpp_id=query.validated_data["station"])
        tariff, price = selectors.session_price_estimate(
            station=station,
            user=request.user,
            energy_wh=int(query.validated_data["energy_kwh"] * 1000),
            minutes=query.validated_data["minutes"],
        )
        return Response(_price_body(tariff, price))


class SessionCostView(APIView):
    @extend_schema(summary="What a session costs so far (or cost, once priced)", responses=PRICE_OR_NONE)
    def get(self, request, transaction_id: int):
        from sessions.models import Transaction

        sessions = Transaction.objects.select_related("station__site", "user", "id_token")
        if not user_has_role(request.user, *MONEY_READ_ROLES):
            sessions = sessions.filter(Q(user=request.user) | Q(user__isnull=True, id_token__owner=request.user))
        session = sessions.filter(pk=transaction_id).first()
        if session is None:
            raise Http404
        cost = selectors.session_running_cost(session)
        return Response(_price_body(cost.tariff, cost.price))


class DunningViewSet(viewsets.ReadOnlyModelViewSet):
    """Failed payments being retried, and those given up on."""

    serializer_class = PaymentSerializer
    lookup_value_converter = "int"
    permission_classes = [role_permission(*MONEY_READ_ROLES)]

    def get_queryset(self):
        return selectors.dunning_list()
