"""Plotly figures of a session: its meter curve, on the station page (sessions in progress) and the session page."""

import plotly.graph_objects as go

from cms.plots import ACCENT, MARGIN, SECOND, THIRD, quantities, styled
from sessions.models import Transaction
from stations.selectors import session_power_series


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
    title = f"Session {session.pk} on connector {session.connector_id}: power, energy and state of charge"
    return quantities(styled(figure, title, margin=MARGIN | {"r": 60}))
