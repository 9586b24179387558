"""Operator pages of charging sessions: the list with its filters and totals, and a session's page (its meter
curve, the authorisations of its tokens, and, for the roles that see money, its price and invoice)."""

from django import forms
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from accounts.roles import Role, role_required, user_has_role
from analytics.staticfiles import STATIC_PATH as PLOTLY_JS
from billing.operator_views import MONEY_READ_ROLES
from billing.selectors import session_price_breakdown
from cms.plots import to_html
from sessions import selectors
from stations.figures import meter_curve
from stations.models import Site
from stations.views import paginate, query_without_page

# Every staff role reads sessions (README roles); money on them only for those who read billing.
SESSION_READ_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN, Role.FINANCE, Role.ANALYST)
SESSIONS_PER_PAGE = 50


class SessionFilterForm(forms.Form):
    station = forms.CharField(required=False, max_length=48, label="Station")
    site = forms.ModelChoiceField(Site.objects.all(), required=False, empty_label="All sites")
    driver = forms.CharField(required=False, max_length=100, label="ID token or driver")
    status = forms.ChoiceField(
        choices=[("", "Any status"), ("active", "Active"), ("finished", "Finished")], required=False
    )
    started_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    started_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("started_from") and data.get("started_to") and data["started_from"] > data["started_to"]:
            self.add_error("started_to", "The end date is before the start date.")
        return data


@require_GET
@role_required(*SESSION_READ_ROLES)
def session_list(request):
    form = SessionFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    found = selectors.sessions_for_staff(
        station=filters.get("station", "").strip(),
        site=filters.get("site"),
        driver=filters.get("driver", "").strip(),
        status=filters.get("status", ""),
        started_from=filters.get("started_from"),
        started_to=filters.get("started_to"),
    )
    totals = selectors.sessions_totals(found)
    context = {
        "form": form,
        "page": paginate(request, found, SESSIONS_PER_PAGE, count=totals.sessions),
        "query": query_without_page(request),
        "totals": totals,
    }
    return render(request, "sessions/operator_list.html", context)


@require_GET
@role_required(*SESSION_READ_ROLES)
def session_detail(request, pk: int):
    session = get_object_or_404(selectors.sessions_for_staff(), pk=pk)
    sees_money = user_has_role(request.user, *MONEY_READ_ROLES)
    context = {
        "session": session,
        "curve": to_html(meter_curve(session)),
        "plotly_js": PLOTLY_JS,
        "authorizations": selectors.session_authorizations(session=session),
        "sees_money": sees_money,
        "price": session_price_breakdown(session) if sees_money else None,
    }
    return render(request, "sessions/operator_detail.html", context)
