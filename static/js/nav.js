// The grouped navigation: one menu open at a time, closed by a click elsewhere or Escape.
(function () {
  const groups = () => document.querySelectorAll(".nav-group[open]");
  document.addEventListener("toggle", (event) => {
    if (!event.target.matches || !event.target.matches(".nav-group") || !event.target.open) return;
    groups().forEach((group) => { if (group !== event.target) group.open = false; });
  }, true);
  document.addEventListener("click", (event) => {
    groups().forEach((group) => { if (!group.contains(event.target)) group.open = false; });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") groups().forEach((group) => { group.open = false; });
  });
})();
