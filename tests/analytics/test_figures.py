"""Charts right at any volume: one day of data reads as days, quantities never go below zero, nothing to
draw says so, one palette."""

from datetime import timedelta

import plotly.graph_objects as go
import pytest

from tests.analytics.conftest import NOW, at

TUE = at(3, 0).date()


def _one_day(build):
    from analytics.filters import Filters

    return build(Filters(start=TUE, end=TUE, now=NOW))


def _draws(figure) -> bool:
    return "plotly-graph-div" in _html(figure)


def _html(figure) -> str:
    from cms import plots

    return plots.to_html(figure)


def test_one_day_of_usage_is_drawn_on_a_day_axis_from_zero(rolled_up):
    from analytics import figures, selectors

    volume = figures.usage(_one_day(selectors.usage_dashboard))["volume"]
    axis = volume.layout.xaxis
    assert axis.type == "date" and axis.dtick == figures.DAY_MS and axis.tickformat == "%-d %b"
    start, end = (value[:10] for value in axis.range)
    # A week of context around the one day, not sub-millisecond ticks around a single point.
    assert start == str(TUE - timedelta(days=7)) and end == str(TUE)
    bar = next(trace for trace in volume.data if trace.type == "bar")
    assert bar.width == figures.DAY_MS * 0.8
    assert {volume.layout.yaxis.rangemode, volume.layout.yaxis2.rangemode} == {"tozero"}


@pytest.mark.parametrize("name", ["usage", "utilisation", "reliability", "energy"])
def test_no_axis_of_a_quantity_goes_below_zero(rolled_up, name):
    from analytics import figures, selectors

    dash = _one_day(getattr(selectors, f"{name}_dashboard"))
    for key, figure in getattr(figures, name)(dash).items():
        if key == "heatmap":
            continue
        horizontal = any(getattr(trace, "orientation", None) == "h" for trace in figure.data)
        value_axes = [figure.layout[a] for a in figure.layout if a.startswith("xaxis" if horizontal else "yaxis")]
        assert value_axes and all(a.rangemode == "tozero" for a in value_axes), f"{name}.{key}"


def test_the_load_curve_of_a_few_hours_shows_its_points_by_the_hour(rolled_up):
    from analytics import figures, selectors

    load = figures.energy(_one_day(selectors.energy_dashboard))["load"]
    assert load.layout.xaxis.type == "date" and load.layout.xaxis.dtick % 3_600_000 == 0
    assert all("markers" in trace.mode for trace in load.data)


def test_a_chart_with_nothing_to_draw_says_so(db):
    from analytics import figures, selectors

    dash = _one_day(selectors.reliability_dashboard)  # no station, no fault
    html = _html(figures.reliability(dash)["error_codes"])
    assert "No data in this period" in html and "Faults by error code" in html
    assert "plotly-graph-div" not in html


def test_faults_by_model_without_a_fault_says_so_and_with_one_draws_every_model(make_station, rolled_up):
    from analytics import figures, selectors
    from analytics.filters import Filters

    make_station("CP-QUIET")
    charts = figures.reliability(_one_day(selectors.reliability_dashboard))
    # A few stations are a few bars, not bands filling the chart.
    assert charts["stations"].layout.bargap >= 0.5
    assert _draws(charts["models"])  # the network's fault among the models, the quiet station's at nought
    assert len(charts["models"].data[0].x) == len(_one_day(selectors.reliability_dashboard).tables["models"].rows)
    calm = Filters(start=TUE - timedelta(days=30), end=TUE - timedelta(days=29), now=NOW)
    dash = selectors.reliability_dashboard(calm)
    assert dash.tables["models"].rows and not any(dash.tables["models"].column("faults"))
    html = _html(figures.reliability(dash)["models"])
    assert "No data in this period" in html and "Faults per station by model and firmware" in html
    assert "plotly-graph-div" not in html


def test_one_tariff_is_one_bar_among_a_few_not_the_width_of_the_chart(billed):
    from analytics import figures
    from analytics.money import money_dashboard
    from cms import plots

    charts = figures.money(_one_day(money_dashboard))
    assert charts["tariffs"].layout.bargap >= 0.6
    # Revenue bars have no colour of their own: they take the portal's palette, not plotly's default purple.
    assert list(charts["daily"].layout.colorway) == plots.PALETTE
    assert _draws(charts["daily"])


def test_every_figure_uses_the_portal_palette():
    from cms import plots

    figure = plots.styled(go.Figure(go.Bar(x=[1], y=[1])), "t")
    assert list(figure.layout.colorway) == plots.PALETTE
