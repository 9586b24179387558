"""Plotly figure of a site's load against its limit, for the operator's load page."""

import plotly.graph_objects as go

from cms.plots import ACCENT, DANGER, SECOND, THIRD, quantities, styled
from smartcharging.models import SiteLoadSample


def site_load_figure(samples: list[SiteLoadSample]) -> go.Figure:
    """Limit, what the CSMS allocated, what the cars drew and the building's own load, in A per phase."""
    times = [sample.at for sample in samples]
    figure = go.Figure()
    traces = (
        ("Limit (A)", [s.limit_a for s in samples], DANGER, "hv", "dash"),
        ("Allocated (A)", [s.allocated_a for s in samples], ACCENT, "hv", None),
        ("Drawn (A)", [s.drawn_a for s in samples], SECOND, "linear", None),
        ("Building (A)", [s.building_a for s in samples], THIRD, "linear", "dot"),
    )
    for name, values, color, shape, dash in traces:
        figure.add_scatter(
            x=times, y=values, name=name, mode="lines", line={"color": color, "shape": shape, "dash": dash}
        )
    return quantities(styled(figure, "Load against the limit", yaxis={"title": {"text": "A per phase"}}))
