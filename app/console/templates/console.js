// The console's keyboard shortcuts and the one-click macro insert. Everything works without this file:
// each shortcut stands for a link or a button on the page (data-shortcut), and "Insert" is a link that
// fills the reply box on the server.
"use strict";
(function () {
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  function byShortcut(key) {
    return document.querySelector('[data-shortcut="' + key + '"]');
  }
  function insertMacro(link) {
    var box = document.getElementById("reply");
    var id = document.getElementById("macro-id");
    if (!box) return false;
    var body = link.getAttribute("data-body") || "";
    box.value = box.value.trim() ? box.value.replace(/\s+$/, "") + "\n\n" + body : body;
    if (id) id.value = link.getAttribute("data-macro") || "";
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    return true;
  }
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("[data-row]")); };
  var current = -1;
  function move(step) {
    var list = rows();
    if (!list.length) return false;
    if (current >= 0 && list[current]) list[current].closest("tr").removeAttribute("data-current");
    current = Math.max(0, Math.min(list.length - 1, current + step));
    list[current].closest("tr").setAttribute("data-current", "");
    list[current].focus();
    return true;
  }
  var follow = document.querySelector("[data-refresh]");
  if (follow) {
    setTimeout(function () { window.location.reload(); }, 1000 * Number(follow.getAttribute("data-refresh")));
  }
  function insertLink(link) {
    var box = document.getElementById("reply");
    if (!box) return false;
    var url = link.getAttribute("data-link") || "";
    box.value = box.value.trim() ? box.value.replace(/\s+$/, "") + "\n\n" + url : url;
    box.focus();
    return true;
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-macro]");
    if (link && insertMacro(link)) event.preventDefault();
    var article = event.target.closest && event.target.closest("a[data-link]");
    if (article && insertLink(article)) event.preventDefault();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.form) {
      event.preventDefault();
      event.target.form.requestSubmit();
      return;
    }
    if (event.key === "Escape" && typing(event.target)) {
      event.target.blur();
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key;
    if (key === "?") {
      var dialog = document.getElementById("shortcuts");
      if (dialog && !dialog.open) dialog.showModal();
      event.preventDefault();
      return;
    }
    if (key === "j" || key === "k") {
      if (move(key === "j" ? 1 : -1)) event.preventDefault();
      return;
    }
    var target = byShortcut(key);
    if (!target) return;
    event.preventDefault();
    if (target.matches("a[data-macro]")) insertMacro(target);
    else if (target.matches("textarea, input, select")) target.focus();
    else target.click();
  });
})();
