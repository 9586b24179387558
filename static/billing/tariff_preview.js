// The tariff form's live price preview: the server prices the sample session with the billing engine
// (the form posted to the same page, fragment=1) whenever a field changes; the Preview button does the same without this script.
(function () {
  const form = document.getElementById("tariff-form");
  if (!form) return;
  let timer = null;
  let latest = 0;
  async function refresh() {
    const request = ++latest;
    const response = await fetch(form.dataset.previewUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" });
    if (!response.ok || request !== latest) return;
    const current = document.getElementById("tariff-preview");
    const next = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("tariff-preview");
    if (current && next) current.replaceWith(next);
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  if (form.dataset.previewOnLoad) refresh();  // a saved tariff: its price at once; a new one once typed into
})();
