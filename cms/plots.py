"""The portal's chart styling in one place: colours, template, fonts, margins, axis rules and how a figure
is put on a page. Every plotly figure (the analytics dashboards, the station page's power curve) is styled
here, so that a chart anywhere in the portal looks like the others."""

from html import escape

import plotly.graph_objects as go

ACCENT, SECOND, THIRD, DANGER = "#0a7d4f", "#2f6fb0", "#b54708", "#b42318"
# One palette across the portal: traces without a colour of their own take these, in this order.
PALETTE = [ACCENT, SECOND, THIRD, DANGER, "#6b4fa3", "#0f8b8d", "#8a6d1d", "#5b6776"]
# The mode bar without plotly's logo and the selection tools no chart here uses.
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
TITLE_FONT = {"size": 15}
HEIGHT = 340
MARGIN = {"l": 50, "r": 20, "t": 50, "b": 40}


def styled(figure: go.Figure, title: str, **layout) -> go.Figure:
    """The portal's look: the title top left, a white template, the legend below the chart, the palette.
    ``layout`` adds to it or overrides it (a height, margins, axis titles, a bar mode)."""
    base = {
        "title": {"text": title, "x": 0, "font": TITLE_FONT},
        "template": "plotly_white",
        "height": HEIGHT,
        "margin": MARGIN,
        "legend": {"orientation": "h", "y": -0.2},
        "colorway": PALETTE,
    }
    figure.update_layout(base | layout)
    return figure


def quantities(figure: go.Figure) -> go.Figure:
    """Every y axis starts at zero: sessions, energy, power, hours, shares and money here are never negative."""
    figure.update_yaxes(rangemode="tozero")
    return figure


def is_empty(figure: go.Figure) -> bool:
    """Whether no trace has a single value to draw."""

    def values(trace) -> list:
        for name in ("z", "y", "x", "values"):
            data = getattr(trace, name, None)
            if data is not None:
                return [v for v in data if v is not None]
        return []

    return not any(values(trace) for trace in figure.data)


def to_html(figure: go.Figure) -> str:
    """The figure's div and script, or an empty-state message when there is nothing to draw; plotly.js itself
    is loaded once by the page from our static files."""
    if is_empty(figure):
        title = figure.layout.title.text or ""
        return f'<div class="empty-state"><strong>{escape(title)}</strong><br>No data in this period.</div>'
    return figure.to_html(full_html=False, include_plotlyjs=False, config=CONFIG)
