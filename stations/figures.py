"""Plotly figures of the station page: the power curve of a session in progress."""

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cms.plots import ACCENT, MARGIN, SECOND, THIRD, quantities, styled
from sessions.models import Transaction
from stations.selectors import session_power_series


def power_curve(session: Transaction) -> go.Figure:
    """Power (kW) and energy delivered (kWh) over the session, with the car's state of charge when sent."""
    series = session_power_series(session=session)
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_scatter(
        x=series.times,
        y=[watts / 1000 for watts in series.power_w],
        name="Power (kW)",
        mode="lines",
        line={"color": ACCENT, "shape": "hv"},
        meta={"role": "power"},
    )
    figure.add_scatter(
        x=series.times,
        y=[None if wh is None else wh / 1000 for wh in series.energy_wh],
        name="Energy (kWh)",
        mode="lines",
        line={"color": SECOND, "dash": "dot"},
        secondary_y=True,
    )
    if series.soc:
        figure.add_scatter(
            x=[moment for moment, _ in series.soc],
            y=[value for _, value in series.soc],
            name="SoC (%)",
            mode="lines",
            line={"color": THIRD},
            secondary_y=True,
        )
    figure.update_yaxes(title_text="kW", secondary_y=False)
    figure.update_yaxes(title_text="kWh / %", secondary_y=True)
    # Room on the right for the second axis' title.
    title = f"Session {session.pk} on connector {session.connector_id}"
    return quantities(styled(figure, title, height=320, margin=MARGIN | {"r": 50}))


def meter_curve(session: Transaction) -> go.Figure:
    """The whole session for the operator: power (kW), energy delivered (kWh) and the car's state of charge (%),
    each on an axis of its own (kWh and % do not share a scale)."""
    series = session_power_series(session=session)
    figure = go.Figure()
    figure.add_scatter(
        x=series.times,
        y=[watts / 1000 for watts in series.power_w],
        name="Power (kW)",
        mode="lines",
        line={"color": ACCENT, "shape": "hv"},
        meta={"role": "power"},
    )
    figure.add_scatter(
        x=series.times,
        y=[None if wh is None else wh / 1000 for wh in series.energy_wh],
        name="Energy (kWh)",
        mode="lines",
        line={"color": SECOND, "dash": "dot"},
        yaxis="y2",
        meta={"role": "energy"},
    )
    figure.add_scatter(
        x=[moment for moment, _ in series.soc],
        y=[value for _, value in series.soc],
        name="SoC (%)",
        mode="lines",
        line={"color": THIRD},
        yaxis="y3",
        meta={"role": "soc"},
    )
    figure.update_layout(
        xaxis={"domain": [0, 0.82]},  # room on the right for the kWh axis and, beyond it, the SoC axis
        yaxis={"title": {"text": "kW"}},
        yaxis2={"title": {"text": "kWh"}, "overlaying": "y", "side": "right", "showgrid": False},
        yaxis3={
            "title": {"text": "SoC %"},
            "overlaying": "y",
            "side": "right",
            "anchor": "free",
            "position": 1,
            "range": [0, 100],
            "dtick": 25,
            "showgrid": False,
        },
    )
    title = f"Session {session.pk}: power, energy and state of charge"
    return quantities(styled(figure, title, margin=MARGIN | {"r": 60}))
