/*
 * Follow an active run on its admin page: its status, its steps and new log lines.
 *
 * The page (admin/adminflow/flowrun/run.html) says where its live endpoint is
 * (FlowRunAdmin.live_view) and which log line it shows last. While the run is
 * active, this polls the endpoint every two seconds and applies what changed.
 * Once the run is final and every line has arrived, the endpoint sends the
 * page's state part rendered by the server, which replaces the page's own: the
 * finished page is then the one a reload shows, not a patched guess at it. The
 * log's pagers are the server's too, for the lines the page holds. Log messages
 * are untrusted text: they are only ever set with textContent.
 */
"use strict";

(function () {
  const POLL_MS = 2000;
  const RETRY_MS = 5000;
  const LEVELS = ["debug", "info", "warning", "error", "critical"];

  function statusClass(status) {
    return /^[a-z_]{1,32}$/.test(status) ? "status-" + status : "status-unknown";
  }

  function setStatusClass(element, status) {
    Array.from(element.classList)
      .filter((name) => name.startsWith("status-"))
      .forEach((name) => element.classList.remove(name));
    element.classList.add(statusClass(status));
  }

  function setBadge(badge, status, label) {
    if (!badge) {
      return;
    }
    setStatusClass(badge, status);
    badge.dataset.status = status;
    badge.textContent = label;
  }

  function follow(root) {
    const url = new URL(root.dataset.liveUrl, window.location.href);
    const followLines = root.dataset.follow === "true";
    let after = Number(root.dataset.after) || 0;
    // Lines kept while following (run_page.LIVE_MAX_LINES); older ones stay on earlier pages.
    const maxLines = Number(root.dataset.maxLines) || 5000;
    const log = root.querySelector("[data-log-lines]");
    const rows = new Map();
    root.querySelectorAll("tr[data-step]").forEach((row) => rows.set(row.dataset.step, row));
    const nodes = new Map();
    root.querySelectorAll(".adminflow-dag g.node").forEach((node) => {
      nodes.set(node.getAttribute("data-step"), node);
    });

    function show(selector, visible) {
      root.querySelectorAll(selector).forEach((element) => {
        element.hidden = !visible;
      });
    }

    function applyRun(run) {
      setBadge(root.querySelector("[data-run-status] .adminflow-badge"), run.status, run.status_label);
      root.querySelectorAll("[data-run-field]").forEach((element) => {
        const name = element.dataset.runField;
        if (Object.prototype.hasOwnProperty.call(run.fields, name)) {
          const value = run.fields[name];
          element.textContent = value === null || value === "" ? "—" : String(value);
        }
      });
      show("[data-run-error-row]", Boolean(run.fields.error));
      show("[data-cancel-requested]", run.cancel_requested && run.active);
      show("[data-run-waiting]", !run.fields.worker); // a worker took the run: it waits no more
      // A button whose action the new status no longer allows goes away.
      root.querySelectorAll("form[data-states]").forEach((form) => {
        form.hidden = !form.dataset.states.split(" ").includes(run.status);
      });
    }

    function applyStep(step) {
      const row = rows.get(step.name);
      if (!row) {
        show("[data-live-reload]", true); // a step the page was not drawn with
        return;
      }
      setBadge(row.querySelector('[data-step-field="status"] .adminflow-badge'), step.status, step.status_label);
      row.querySelector('[data-step-field="attempts"]').textContent = step.attempts;
      const overdue = row.querySelector('[data-step-field="overdue"]');
      overdue.textContent = step.overdue;
      overdue.hidden = !step.overdue;
      row.querySelector('[data-step-field="duration"]').textContent = step.duration;
      const bar = row.querySelector("[data-bar]");
      bar.setAttribute("x", step.left);
      bar.setAttribute("width", step.width);
      setStatusClass(bar, step.status);
      bar.toggleAttribute("hidden", !step.started); // an SVG element has no .hidden
      row.querySelector("[data-not-started]").hidden = step.started;
      const node = nodes.get(step.name);
      if (node) {
        setStatusClass(node, step.status);
        const subtitle = node.querySelector(".node-status");
        if (subtitle) {
          const parts = subtitle.textContent.split(" · ");
          parts[0] = step.status.replace(/_/g, " ");
          subtitle.textContent = parts.join(" · ");
        }
      }
    }

    function appendLines(lines) {
      if (!log || lines.length === 0) {
        return;
      }
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      for (const line of lines) {
        const div = document.createElement("div");
        const level = LEVELS.includes(line.level_name) ? line.level_name : "info";
        div.className = "adminflow-log-line level-" + level;
        div.dataset.id = String(line.id);
        for (const [name, text] of [
          ["log-time", line.time],
          ["log-level", level],
          ["log-step", line.step || "—"],
          ["log-message", line.message],
        ]) {
          const span = document.createElement("span");
          span.className = name;
          span.textContent = text;
          if (div.childElementCount > 0) {
            div.append(" ");
          }
          div.append(span);
        }
        log.append(div);
        after = line.id;
      }
      while (log.childElementCount > maxLines) {
        log.firstElementChild.remove();
      }
      show("[data-log-empty]", false);
      if (atBottom) {
        log.scrollTop = log.scrollHeight;
      }
    }

    function firstLine() {
      const line = log && log.firstElementChild;
      return line ? Number(line.dataset.id) : null;
    }

    function setPagers(html) {
      // Server-rendered (its links built by the admin), so set as HTML.
      root.querySelectorAll("[data-log-pager]").forEach((pager) => {
        pager.innerHTML = html;
      });
    }

    function finished(stateHtml) {
      root.dataset.active = "false";
      const state = root.querySelector("[data-run-state]");
      if (state && stateHtml) {
        state.outerHTML = stateHtml;
      } else {
        show("[data-live-status]", false);
      }
    }

    function poll() {
      const sentFirst = followLines ? firstLine() : null;
      if (followLines) {
        url.searchParams.set("after", String(after));
        if (sentFirst === null) {
          url.searchParams.delete("first");
        } else {
          url.searchParams.set("first", String(sentFirst));
        }
      } else {
        url.searchParams.set("lines", "0");
      }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => {
          if (response.status >= 400 && response.status < 500) {
            show("[data-live-status]", false);
            return null; // logged out, or the run is gone: stop
          }
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json().then((data) => {
            applyRun(data.run);
            data.steps.forEach(applyStep);
            root.querySelectorAll("[data-tick]").forEach((tick, index) => {
              tick.textContent = data.ticks[index] || "";
            });
            appendLines(data.lines);
            if (data.pager_html !== null) {
              setPagers(data.pager_html);
            }
            // The pager describes the lines from the first one sent; if the page dropped
            // its oldest lines for these, ask again at once for the pager of what it holds.
            const expectedFirst =
              sentFirst !== null ? sentFirst : data.lines.length ? data.lines[0].id : null;
            const settled = !followLines || firstLine() === expectedFirst;
            if (data.more || !settled) {
              window.setTimeout(poll, 0);
            } else if (data.run.active) {
              window.setTimeout(poll, POLL_MS);
            } else {
              finished(data.state_html);
            }
          });
        })
        .catch(() => window.setTimeout(poll, RETRY_MS));
    }

    if (followLines && log) {
      log.scrollTop = log.scrollHeight; // open on the newest line, so that the page follows
    }
    window.setTimeout(poll, POLL_MS);
  }

  function init() {
    const root = document.querySelector(".adminflow-run[data-live-url]");
    if (root && root.dataset.active === "true") {
      follow(root);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
