/* Progressive enhancement for pages that show neutral cards (cards/html.py). Everything works without it:
   it only adds rows to a repeating group, asks before a button marked data-confirm, and filters a person
   picker by name or pinyin initials. Served as a file, so pages can forbid inline script (CSP). */
(function () {
  "use strict";

  function addRow(button) {
    var template = button.previousElementSibling;
    var group = button.parentNode;
    var next = Number(group.dataset.next);
    var html = template.innerHTML.replace(/__row__/g, String(next)).replace(/__num__/g, String(next + 1));
    template.before(document.createRange().createContextualFragment(html));
    group.dataset.next = String(next + 1);
    button.hidden = next + 1 >= Number(group.dataset.max);
    var row = template.previousElementSibling;
    enhance(row);
    var first = row.querySelector("input:not([hidden]):not([type=hidden]), select, textarea");
    if (first) first.focus();
  }

  function searchable(box) {
    var select = document.getElementById(box.dataset.peopleSearch);
    if (!select) return;
    var all = Array.prototype.slice.call(select.options);
    box.hidden = false;
    box.addEventListener("input", function () {
      var query = box.value.trim().toLowerCase();
      var chosen = Array.prototype.map.call(select.selectedOptions, function (option) { return option.value; });
      var shown = all.filter(function (option) {
        var words = (option.dataset.search || "") + " " + option.text;
        var kept = select.multiple && chosen.indexOf(option.value) >= 0;  // a multiple choice is never dropped
        return option.value === "" || kept || !query || words.toLowerCase().indexOf(query) >= 0;
      });
      select.replaceChildren.apply(select, shown);
      shown.forEach(function (option) { option.selected = option.value !== "" && chosen.indexOf(option.value) >= 0; });
      var people = shown.filter(function (option) { return option.value !== ""; });
      if (!select.multiple && query && people.length === 1 && chosen.indexOf(people[0].value) < 0) {
        people[0].selected = true;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      } else if (!select.multiple && !chosen.filter(Boolean).length) {
        select.value = "";
      }
    });
  }

  function enhance(root) {
    root.querySelectorAll("button[data-add-row]").forEach(function (button) {
      var group = button.parentNode;
      button.hidden = Number(group.dataset.next) >= Number(group.dataset.max);
    });
    root.querySelectorAll("input[data-people-search]").forEach(searchable);
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var add = target && target.closest("button[data-add-row]");
    if (add) {
      event.preventDefault();
      addRow(add);
      return;
    }
    var asking = target && target.closest("[data-confirm]");
    if (asking && !window.confirm(asking.dataset.confirm)) event.preventDefault();
  });

  function ready() { enhance(document); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
