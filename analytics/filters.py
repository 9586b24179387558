"""What a dashboard is asked for: the date range, site, station, tariff and time grain, and the form that reads them."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from analytics.app_settings import app_settings
from stations.models import Site, Station

GRAINS = [("day", "Day"), ("week", "Week"), ("month", "Month")]


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    site_id: int | None = None
    station_id: int | None = None
    tariff_id: int | None = None
    grain: str = "day"
    now: datetime = field(default_factory=timezone.now)

    def __post_init__(self):
        # The grain is written into SQL (date_trunc's unit): only the known ones pass.
        if self.grain not in dict(GRAINS):
            raise ValueError(f"Unknown grain {self.grain!r}.")

    @property
    def tz(self) -> str:
        return settings.TIME_ZONE

    @property
    def lo(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min), timezone.get_default_timezone())

    @property
    def hi(self) -> datetime:
        end = timezone.make_aware(
            datetime.combine(self.end + timedelta(days=1), time.min), timezone.get_default_timezone()
        )
        return max(min(end, self.now), self.lo)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def station_ids(self) -> list[int] | None:
        """The stations in scope, or None for the whole network."""
        if self.station_id:
            return [self.station_id]
        if self.site_id:
            return list(Station.objects.filter(site_id=self.site_id).values_list("pk", flat=True))
        return None

    def params(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "lo": self.lo,
            "hi": self.hi,
            "tz": self.tz,
            "grain": self.grain,
            "station_ids": self.station_ids(),
            "site_id": self.site_id,
            "station_id": self.station_id,
            "tariff_id": self.tariff_id,
        }

    def querystring(self) -> str:
        from urllib.parse import urlencode

        values = {"start": self.start.isoformat(), "end": self.end.isoformat(), "grain": self.grain}
        values |= {
            k: v for k, v in [("site", self.site_id), ("station", self.station_id), ("tariff", self.tariff_id)] if v
        }
        return urlencode(values)

    @classmethod
    def default(cls, now: datetime | None = None, **overrides) -> "Filters":
        now = now or timezone.now()
        end = timezone.localtime(now).date()
        return cls(start=end - timedelta(days=app_settings.DEFAULT_RANGE_DAYS - 1), end=end, now=now, **overrides)


def _tariff_choices():
    from analytics import money

    return money.tariff_choices()


class PlainSelect(forms.Select):
    """The same <select> as Django's, written in one pass: its per-option dicts and template renders cost half a
    second of CPU on every dashboard for the 10,000 stations of a large network."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = {str(v) for v in self.format_value(value)}
        options = "".join(
            f'<option value="{escape(option)}"{" selected" if str(option) in chosen else ""}>{escape(label)}</option>'
            for option, label in self.choices
        )
        return mark_safe(  # noqa: S308 - every name, value and label in it is escaped
            f'<select name="{escape(name)}"{flatatt(self.build_attrs(self.attrs, attrs))}>{options}</select>'
        )


class FilterForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    site = forms.ModelChoiceField(Site.objects.all(), required=False, empty_label="All sites", widget=PlainSelect)
    station = forms.ModelChoiceField(
        Station.objects.only("pk", "ocpp_id"), required=False, empty_label="All stations", widget=PlainSelect
    )
    tariff = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    grain = forms.ChoiceField(choices=GRAINS, required=False)

    def __init__(self, *args, with_tariff: bool = False, with_scope: bool = True, with_grain: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not with_grain:
            del self.fields["grain"]
        if not with_scope:
            # A driver's own page: everything they charged, wherever.
            del self.fields["site"], self.fields["station"]
        choices = _tariff_choices() if with_tariff else []
        if choices:
            self.fields["tariff"].choices = [("", "All tariffs"), *choices]
        else:
            del self.fields["tariff"]

    def clean(self):
        data = super().clean()
        default = Filters.default()
        start, end = data.get("start") or default.start, data.get("end") or default.end
        if data.get("start") and not data.get("end"):
            end = max(end, start)
        if end < start:
            raise forms.ValidationError("The end date is before the start date.")
        if (end - start).days + 1 > app_settings.MAX_RANGE_DAYS:
            raise forms.ValidationError(f"Choose at most {app_settings.MAX_RANGE_DAYS} days.")
        site, station = data.get("site"), data.get("station")
        if site and station and station.site_id != site.pk:
            raise forms.ValidationError(f"Station {station.ocpp_id} is not at site {site}.")
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            start=data["start"],
            end=data["end"],
            site_id=data["site"].pk if data.get("site") else None,
            station_id=data["station"].pk if data.get("station") else None,
            tariff_id=data.get("tariff"),
            grain=data.get("grain") or "day",
        )
