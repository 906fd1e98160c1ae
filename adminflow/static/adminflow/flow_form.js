/* The flow form and the run page's YAML: a line-number gutter, no word wrap; and the
   schedule's "Schedule on" ticked when a schedule is first typed in. */
"use strict";
(function () {
  function gutter(textarea) {
    const editor = document.createElement("div");
    editor.className = "adminflow-yaml-editor";
    const lines = document.createElement("pre");
    lines.className = "adminflow-yaml-lines";
    lines.setAttribute("aria-hidden", "true");
    textarea.parentNode.insertBefore(editor, textarea);
    editor.appendChild(lines);
    editor.appendChild(textarea);
    function number() {
      const count = textarea.value.split("\n").length;
      if (lines.childElementCount !== count) {
        const numbers = [];
        for (let line = 1; line <= count; line++) numbers.push(line);
        lines.textContent = numbers.join("\n");
      }
      lines.scrollTop = textarea.scrollTop;
    }
    textarea.addEventListener("input", number);
    textarea.addEventListener("scroll", function () { lines.scrollTop = textarea.scrollTop; });
    number();
  }

  function scheduleSwitch() {
    const schedule = document.getElementById("id_schedule");
    const on = document.getElementById("id_schedule_enabled");
    if (!schedule || !on) return;
    let before = schedule.value.trim();
    schedule.addEventListener("input", function () {
      const now = schedule.value.trim();
      if (!before && now) on.checked = true;
      if (before && !now) on.checked = false;
      before = now;
    });
  }

  function ready() {
    document.querySelectorAll("textarea.adminflow-yaml").forEach(gutter);
    scheduleSwitch();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
