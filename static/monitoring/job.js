/* A maintenance job's page: poll its progress every two seconds until every station has an outcome. */
(function () {
  "use strict";
  const job = document.getElementById("job");
  if (!job || job.dataset.finished === "1") return;
  async function poll() {
    try {
      const response = await fetch(job.dataset.statusUrl, { credentials: "same-origin" });
      if (response.ok) {
        const data = await response.json();
        document.getElementById("job-targets").innerHTML = data.targets;
        document.getElementById("job-progress").value = data.percent;
        document.getElementById("job-done").textContent = data.done;
        const status = document.getElementById("job-status");
        status.textContent = data.status_display;
        status.className = "outcome outcome-" + data.status;
        if (data.finished) { location.reload(); return; }
      }
    } catch (error) { /* try again */ }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 1000);
})();
