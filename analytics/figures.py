"""Plotly figures of each dashboard, drawn from the dashboard's tables (the same numbers the CSV export has)."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.selectors import WEEKDAYS
from analytics.tables import Dashboard
from cms.plots import ACCENT, DANGER, SECOND, THIRD, quantities, styled

DAY_MS = 86_400_000
# A date axis spans at least this many periods, so that one day of data is one bar among days, not the chart.
MIN_PERIODS = 7


def _num(values) -> list:
    return [float(v) if isinstance(v, Decimal) else v for v in values]


def date_axis(fig: go.Figure, periods: list, grain: str = "day", axis: str = "x") -> go.Figure:
    """Ticks on whole days (weeks, months) whatever the number of points, half a period of margin each side."""
    # Dates become midnights: half a day of margin cannot be taken from a date.
    days = [p if isinstance(p, datetime) else datetime.combine(p, time.min) for p in periods if p is not None]
    if not days:
        return fig
    step = {
        "hour": timedelta(hours=1),
        "day": timedelta(days=1),
        "week": timedelta(weeks=1),
        "month": timedelta(days=30),
    }[grain]
    first, last = min(days), max(days)
    first = min(first, last - step * (MIN_PERIODS - 1))
    span = (last - first) / step + 1
    ticks = {
        "hour": {"dtick": 3_600_000 * max(1, round(span / 12)), "tickformat": "%-d %b %H:%M"},
        "day": {"dtick": DAY_MS * max(1, round(span / 8)), "tickformat": "%-d %b"},
        "week": {"dtick": DAY_MS * 7 * max(1, round(span / 8)), "tickformat": "%-d %b"},
        "month": {"dtick": f"M{max(1, round(span / 12))}", "tickformat": "%b %Y"},
    }[grain]
    hover = "%Y-%m-%d %H:%M" if grain == "hour" else "%Y-%m-%d"
    # plotly sizes bars on a date axis from the gap between points: one point would get a 1 ms wide bar.
    fig.update_traces(width=step.total_seconds() * 1000 * 0.8, selector={"type": "bar"})
    fig.update_layout(
        {
            f"{axis}axis": {
                "type": "date",
                "range": [(first - step / 2).isoformat(), (last + step / 2).isoformat()],
                "hoverformat": hover,
                **ticks,
            }
        }
    )
    return fig


def _over_time(fig: go.Figure, periods: list, grain: str = "day") -> go.Figure:
    return date_axis(quantities(fig), periods, grain)


def _categories(fig: go.Figure, count: int) -> go.Figure:
    """Bars over a few categories keep a bar's width instead of filling the chart (one tariff, one code)."""
    fig.update_layout(bargap=max(0.2, 1 - count / 6))
    return quantities(fig)


def usage(dash: Dashboard) -> dict[str, go.Figure]:
    t = dash.tables["sessions"]
    periods = t.column("period")
    grain = t.columns[0].label.lower()
    volume = make_subplots(specs=[[{"secondary_y": True}]])
    volume.add_bar(x=periods, y=t.column("sessions"), name="Sessions", marker_color=SECOND)
    volume.add_scatter(
        x=periods,
        y=_num(t.column("energy_kwh")),
        name="Energy (kWh)",
        mode="lines+markers",
        line_color=ACCENT,
        secondary_y=True,
    )
    volume.update_yaxes(title_text="Sessions", secondary_y=False)
    volume.update_yaxes(title_text="kWh", secondary_y=True)
    averages = make_subplots(specs=[[{"secondary_y": True}]])
    averages.add_scatter(
        x=periods,
        y=_num(t.column("avg_session_kwh")),
        name="Average session energy (kWh)",
        mode="lines+markers",
        line_color=ACCENT,
    )
    averages.add_scatter(
        x=periods,
        y=_num(t.column("avg_duration_h")),
        name="Average duration (h)",
        mode="lines+markers",
        line_color=THIRD,
        secondary_y=True,
    )
    drivers = go.Figure(go.Bar(x=periods, y=t.column("unique_drivers"), name="Unique drivers", marker_color=ACCENT))
    heat = dash.tables["heatmap"]
    matrix = [[0] * 24 for _ in WEEKDAYS]
    for weekday, hour, sessions in heat.rows:
        matrix[WEEKDAYS.index(weekday)][hour] = sessions
    heatmap = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(range(24)),
            y=WEEKDAYS,
            colorscale="Greens",
            hovertemplate="%{y} %{x}:00: %{z} sessions<extra></extra>",
        )
    )
    heatmap.update_yaxes(autorange="reversed")
    return {
        "volume": _over_time(styled(volume, t.title + " and energy delivered"), periods, grain),
        "averages": _over_time(styled(averages, "Average session energy and duration"), periods, grain),
        "drivers": _over_time(styled(drivers, "Unique drivers"), periods, grain),
        "heatmap": styled(heatmap, heat.title, xaxis_title="Hour of day"),
    }


def _station_bars(table, title: str) -> go.Figure:
    fig = go.Figure()
    stations = table.column("station")
    fig.add_bar(y=stations, x=_num(table.column("charging_pct")), name="Charging", orientation="h", marker_color=ACCENT)
    fig.add_bar(
        y=stations, x=_num(table.column("idle_pct")), name="Idle, plugged in", orientation="h", marker_color=THIRD
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(rangemode="tozero")
    return styled(fig, title, barmode="stack", xaxis_title="% of the period")


def utilisation(dash: Dashboard) -> dict[str, go.Figure]:
    daily = dash.tables["daily"]
    days = daily.column("day")
    trend = go.Figure()
    # Markers too: a single day is a visible point, not an invisible line of length zero.
    trend.add_scatter(
        x=days,
        y=_num(daily.column("charging_pct")),
        name="Charging",
        stackgroup="occupied",
        mode="lines+markers",
        line_color=ACCENT,
    )
    trend.add_scatter(
        x=days,
        y=_num(daily.column("idle_pct")),
        name="Idle, plugged in",
        stackgroup="occupied",
        mode="lines+markers",
        line_color=THIRD,
    )
    return {
        "trend": _over_time(styled(trend, "Occupied time per day", yaxis_title="% of the day"), days),
        "busiest": _station_bars(dash.tables["busiest"], "Busiest stations (occupied time)"),
        "idlest": _station_bars(dash.tables["idlest"], "Idlest stations (occupied time)"),
    }


def reliability(dash: Dashboard) -> dict[str, go.Figure]:
    daily = dash.tables["daily"]
    trend = go.Figure()
    trend.add_scatter(
        x=daily.column("day"),
        y=_num(daily.column("availability_pct")),
        name="Availability",
        mode="lines+markers",
        line_color=ACCENT,
    )
    trend.add_scatter(
        x=daily.column("day"),
        y=_num(daily.column("uptime_pct")),
        name="Uptime",
        mode="lines+markers",
        line_color=SECOND,
    )
    codes = dash.tables["error_codes"]
    faults = go.Figure(go.Bar(x=codes.column("error_code"), y=codes.column("faults"), marker_color=DANGER))
    models = dash.tables["models"]
    labels = [
        f"{v} {m} {f}".strip() or "(unknown)"
        for v, m, f in zip(models.column("vendor"), models.column("model"), models.column("firmware"), strict=True)
    ]
    per_station = _num(models.column("faults_per_station"))
    if not any(models.column("faults")):
        # Every model is a row, faulted or not: with no fault at all there is nothing to compare, and the chart
        # says so (its empty state) instead of drawing bars of nought.
        labels = per_station = []
    by_model = go.Figure(
        go.Bar(
            x=labels,
            y=per_station,
            marker_color=THIRD,
            customdata=models.column("faults"),
            hovertemplate="%{x}: %{y} per station (%{customdata} faults)<extra></extra>",
        )
    )
    worst = dash.tables["stations"].rows[:20]
    stations = go.Figure(
        go.Bar(y=[r[0] for r in worst], x=_num([r[4] for r in worst]), orientation="h", marker_color=SECOND)
    )
    stations.update_yaxes(autorange="reversed")
    stations.update_xaxes(rangemode="tozero")
    return {
        "trend": _over_time(styled(trend, "Availability and uptime per day", yaxis_title="%"), daily.column("day")),
        "error_codes": _categories(styled(faults, codes.title), len(codes.rows)),
        "models": _categories(styled(by_model, "Faults per station by model and firmware"), len(labels)),
        "stations": _categories(
            styled(stations, "Least available stations", xaxis_title="Availability (%)"), len(worst)
        ),
    }


def energy(dash: Dashboard) -> dict[str, go.Figure]:
    daily = dash.tables["daily"]
    per_day = make_subplots(specs=[[{"secondary_y": True}]])
    per_day.add_bar(x=daily.column("day"), y=_num(daily.column("energy_kwh")), name="Energy (kWh)", marker_color=ACCENT)
    per_day.add_scatter(
        x=daily.column("day"),
        y=_num(daily.column("peak_kw")),
        name="Peak demand (kW)",
        mode="lines+markers",
        line_color=DANGER,
        secondary_y=True,
    )
    figures = {"daily": _over_time(styled(per_day, daily.title), daily.column("day"))}
    if "load" in dash.tables:
        load = dash.tables["load"]
        hours = load.column("hour")
        mode = "lines+markers" if len(hours) <= 48 else "lines"  # a few hours of data stay visible
        curve = go.Figure()
        curve.add_scatter(
            x=hours,
            y=_num(load.column("avg_kw")),
            name="Average power (kW)",
            mode=mode,
            line_color=ACCENT,
            fill="tozeroy",
        )
        curve.add_scatter(
            x=hours, y=_num(load.column("peak_kw")), name="Peak 15-minute demand (kW)", mode=mode, line_color=DANGER
        )
        figures["load"] = _over_time(styled(curve, "Load across the network", yaxis_title="kW"), hours, "hour")
    return figures


def money(dash: Dashboard) -> dict[str, go.Figure]:
    daily = dash.tables["daily"]
    revenue = go.Figure()
    for code in sorted(set(daily.column("currency"))):
        rows = [r for r in daily.rows if r[1] == code]
        revenue.add_bar(x=[r[0] for r in rows], y=_num([r[4] for r in rows]), name=f"Gross ({code})")
    tariffs = dash.tables["tariffs"]
    by_tariff = go.Figure(
        go.Bar(
            x=[f"{t} ({c})" for t, c in zip(tariffs.column("tariff"), tariffs.column("currency"), strict=True)],
            y=_num(tariffs.column("gross")),
            marker_color=ACCENT,
        )
    )
    methods = dash.tables["methods"]
    by_method = go.Figure(
        go.Bar(
            x=[f"{m} ({c})" for m, c in zip(methods.column("method"), methods.column("currency"), strict=True)],
            y=_num(methods.column("net_collected")),
            marker_color=SECOND,
        )
    )
    return {
        "daily": _over_time(styled(revenue, daily.title, barmode="stack"), daily.column("day")),
        "tariffs": _categories(styled(by_tariff, tariffs.title), len(tariffs.rows)),
        "methods": _categories(styled(by_method, methods.title), len(methods.rows)),
    }


def driver(dash: Dashboard) -> dict[str, go.Figure]:
    t = dash.tables["periods"]
    periods = t.column("period")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=periods, y=_num(t.column("energy_kwh")), name="Energy (kWh)", marker_color=ACCENT)
    fig.add_scatter(
        x=periods, y=t.column("sessions"), name="Sessions", mode="lines+markers", line_color=SECOND, secondary_y=True
    )
    grain = t.columns[0].label.lower()
    figures = {"energy": _over_time(styled(fig, t.title), periods, grain)}
    if any(v is not None for v in t.column("cost")):
        cost = go.Figure(go.Bar(x=periods, y=_num(t.column("cost")), marker_color=THIRD))
        figures["cost"] = _over_time(styled(cost, t.columns[-1].label), periods, grain)
    return figures


def overview(dash: Dashboard) -> dict[str, go.Figure]:
    """The operator overview's small trend: sessions and energy per day, revenue per day and currency."""
    days = dash.tables["days"]
    periods = days.column("day")
    trend = make_subplots(specs=[[{"secondary_y": True}]])
    trend.add_bar(x=periods, y=days.column("sessions"), name="Sessions", marker_color=SECOND)
    trend.add_scatter(
        x=periods,
        y=_num(days.column("energy_kwh")),
        name="Energy (kWh)",
        mode="lines+markers",
        line_color=ACCENT,
        secondary_y=True,
    )
    trend.update_yaxes(title_text="Sessions", secondary_y=False)
    trend.update_yaxes(title_text="kWh", secondary_y=True)
    figures = {"trend": _over_time(styled(trend, days.title, height=280), periods)}
    if "revenue" in dash.tables:
        revenue = dash.tables["revenue"]
        chart = go.Figure()
        for code in sorted(set(revenue.column("currency"))):
            rows = [r for r in revenue.rows if r[1] == code]
            chart.add_bar(x=[r[0] for r in rows], y=_num([r[2] for r in rows]), name=code)
        figures["revenue"] = _over_time(styled(chart, revenue.title, height=280, barmode="group"), periods)
    return figures
