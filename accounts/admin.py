"""Admin for users (roles, API tokens) and ID tokens; every token change goes through accounts.services."""

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts import services
from accounts.models import IdToken, IdTokenEvent, LocalListVersion, StationLocalList, User
from accounts.roles import user_roles

SOURCE = IdTokenEvent.Source.ADMIN


class OwnedIdTokenInline(admin.TabularInline):
    """A driver's cards, read only here: changes go through the token's own page, which keeps its history."""

    model = IdToken
    fk_name = "owner"
    fields = ["token_link", "type", "status", "expires_at", "parent", "label"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "ID tokens"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="token")
    def token_link(self, id_token):
        url = reverse("admin:accounts_idtoken_change", args=[id_token.pk])
        return format_html('<a href="{}">{}</a>', url, id_token)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "roles", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        (
            "Roles and permissions",
            {
                "fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions"),
                "description": "Staff roles are the groups operator_admin, technician, finance and analyst; "
                "a user given one becomes staff (may use the admin).",
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [OwnedIdTokenInline]
    actions = ["issue_api_token", "revoke_api_token"]

    @admin.display(description="roles")
    def roles(self, user):
        return ", ".join(role.label for role in user_roles(user)) or "—"

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if services.user_sync_staff_status(user=form.instance):
            self.message_user(request, f"{form.instance} holds a staff role and is now staff.", messages.INFO)

    @admin.action(description="Issue a new API token (replaces the current one)", permissions=["change"])
    def issue_api_token(self, request, queryset):
        for user in queryset:
            token = services.api_token_issue(user=user)
            # The key is shown once; it is the integration's password.
            self.message_user(request, f"API token for {user}: {token.key}", messages.WARNING)

    @admin.action(description="Revoke API tokens", permissions=["change"])
    def revoke_api_token(self, request, queryset):
        revoked = sum(services.api_token_revoke(user=user) for user in queryset)
        self.message_user(request, f"Revoked {revoked} API token(s).")


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("expired", "Expired"), ("30d", "Expires within 30 days"), ("never", "Never expires")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        if self.value() == "30d":
            return queryset.filter(expires_at__gt=now, expires_at__lte=now + timedelta(days=30))
        if self.value() == "never":
            return queryset.filter(expires_at__isnull=True)
        return queryset


@admin.register(IdToken)
class IdTokenAdmin(admin.ModelAdmin):
    list_display = ["token", "type", "status", "effective_status", "expires_at", "parent", "owner", "label"]
    list_filter = [
        "status",
        "type",
        ExpiryFilter,
        ("parent", admin.EmptyFieldListFilter),
        ("owner", admin.EmptyFieldListFilter),
    ]
    search_fields = ["token", "label", "owner__email", "parent__token"]
    list_select_related = ["parent", "owner"]
    autocomplete_fields = ["owner", "parent", "allowed_stations", "allowed_sites"]
    fields = [
        "token",
        "type",
        "status",
        "expires_at",
        "parent",
        "owner",
        "label",
        "allowed_stations",
        "allowed_sites",
        "history",
        "list_version",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["history", "list_version", "created_at", "updated_at"]
    actions = ["block", "accept"]
    change_list_template = "admin/accounts/idtoken/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        # The number is the card: a different number is a different token.
        return [*self.readonly_fields, "token"] if obj else self.readonly_fields

    @admin.display(description="effective status")
    def effective_status(self, id_token):
        return id_token.display_status

    @admin.display(description="history")
    def history(self, id_token):
        if not id_token.pk:
            return "—"
        recent = id_token.events.all()[:5]
        lines = format_html_join(
            "",
            "<li>{} · {} {} · {}</li>",
            (
                (
                    f"{event.created_at:%Y-%m-%d %H:%M}",
                    event.get_kind_display(),
                    event.status,
                    event.get_source_display(),
                )
                for event in recent
            ),
        )
        url = reverse("accounts:id_token_history", args=[id_token.pk])
        return format_html('<ul>{}</ul><a href="{}">Sessions, authorisations and every change</a>', lines, url)

    def save_model(self, request, obj, form, change):
        editable = [*services.EDITABLE_FIELDS, *services.ALLOW_LIST_FIELDS]
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in editable}
        if change:
            saved = services.id_token_update(
                id_token=IdToken.objects.get(pk=obj.pk), data=data, actor=request.user, source=SOURCE
            )
        else:
            saved = services.id_token_create(token=obj.token, data=data, actor=request.user, source=SOURCE)
        obj.pk, obj.token, obj.list_version = saved.pk, saved.token, saved.list_version

    def save_related(self, request, form, formsets, change):
        # The allow lists were saved by the service in save_model; only inlines (none today) remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        services.id_tokens_delete(id_tokens=[obj], actor=request.user, source=SOURCE)

    def delete_queryset(self, request, queryset):
        services.id_tokens_delete(id_tokens=queryset, actor=request.user, source=SOURCE)

    def _set_status(self, request, queryset, status):
        changed = 0
        for id_token in queryset:
            if id_token.status != status:
                services.id_token_update(id_token=id_token, data={"status": status}, actor=request.user, source=SOURCE)
                changed += 1
        self.message_user(request, f"{changed} token(s) set to {status}.")

    @admin.action(description="Block selected tokens", permissions=["change"])
    def block(self, request, queryset):
        self._set_status(request, queryset, IdToken.Status.BLOCKED)

    @admin.action(description="Accept (unblock) selected tokens", permissions=["change"])
    def accept(self, request, queryset):
        self._set_status(request, queryset, IdToken.Status.ACCEPTED)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the system writes (histories, counters): visible to staff, changed by nobody by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IdTokenEvent)
class IdTokenEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "token", "kind", "status", "station", "source", "actor", "note"]
    list_filter = ["kind", "source", "status"]
    search_fields = ["token", "note", "actor__email"]
    date_hierarchy = "created_at"


@admin.register(LocalListVersion)
class LocalListVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "full_update_from"]


@admin.register(StationLocalList)
class StationLocalListAdmin(ReadOnlyAdmin):
    """Where each station's local authorization list stands; kept by stations.local_list, resent from here."""

    list_display = [
        "station",
        "status",
        "synced_version",
        "station_version",
        "entries",
        "last_update_type",
        "synced_at",
        "last_attempt_at",
        "last_error",
        "attempts",
        "next_attempt_at",
    ]
    list_filter = ["status", "last_update_type"]
    search_fields = ["station__ocpp_id", "last_error"]
    list_select_related = ["station"]
    actions = ["send_full_list"]

    @admin.action(description="Send the full list again (online stations now, the others when they connect)")
    def send_full_list(self, request, queryset):
        from stations.tasks import sync_station_local_list

        # Forgetting what the station holds makes the next sync, now or on reconnection, a Full one.
        count = queryset.update(
            synced_version=None,
            status=StationLocalList.Status.PENDING,
            checked_connection_at=None,
            attempts=0,
            next_attempt_at=None,
        )
        for station_pk in queryset.values_list("station_id", flat=True):
            sync_station_local_list.delay(station_pk, force_full=True)
        self.message_user(request, f"A full list is on its way to {count} station(s).", messages.SUCCESS)
