/* Station page: extend the power curve of a running session with the power the live events report. */
(function () {
  "use strict";
  document.addEventListener("voltgrid:connector", (message) => {
    const event = message.detail;
    if (!("power_w" in event) || event.power_w == null || !window.Plotly) return;
    const section = document.querySelector('[data-curve-connector="' + event.connector_id + '"]');
    const plot = section && section.querySelector(".plotly-graph-div");
    if (!plot) return;
    window.Plotly.extendTraces(plot, { x: [[new Date().toISOString()]], y: [[event.power_w / 1000]] }, [0]);
  });
})();
