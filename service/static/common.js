// Shared by the pages: strings, the JSON API with the CSRF header, Amsterdam dates, time left and deadlines.
"use strict";

const Webcare = (() => {
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const pageData = document.getElementById("page-data");
  const page = pageData ? JSON.parse(pageData.textContent) : {};
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const TIME_ZONE = "Europe/Amsterdam";
  const AT_RISK_SHARE = 0.2; // less than this share of the time to the deadline left: at risk

  function t(key, values = {}) {
    const text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  // A label for an enum value ("category.communication"), or the raw value if we have none.
  function label(group, value) {
    if (value === null || value === undefined || value === "") return "";
    const key = `${group}.${value}`;
    return Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : String(value).replace(/_/g, " ");
  }

  // The JSON API. Resolves to {ok, status, data}; a lost session sends the person to the log-in page.
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(`/api/v1${path}`, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      return { ok: false, status: 0, data: null };
    }
    if (response.status === 401) {
      const here = window.location.pathname + window.location.search;
      window.location.assign(`/login?next=${encodeURIComponent(here)}`);
      return { ok: false, status: 401, data: null };
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
    }
    return { ok: response.ok, status: response.status, data };
  }

  // Dates: "ma 23 nov 12:30", always in Amsterdam time, whatever the computer's own zone.
  const partsFormat = new Intl.DateTimeFormat("en-GB", {
    timeZone: TIME_ZONE,
    weekday: "short",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
  const WEEKDAY_INDEX = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

  function parts(moment) {
    const found = {};
    for (const part of partsFormat.formatToParts(moment)) found[part.type] = part.value;
    return found;
  }

  function formatDate(iso) {
    if (!iso) return "";
    const moment = new Date(iso);
    const p = parts(moment);
    const weekday = t("dates.weekdays").split(" ")[WEEKDAY_INDEX[p.weekday]];
    const month = t("dates.months").split(" ")[Number(p.month) - 1];
    const year = p.year !== parts(new Date()).year ? ` ${p.year}` : "";
    return `${weekday} ${Number(p.day)} ${month}${year} ${p.hour}:${p.minute}`;
  }

  function formatClock(moment) {
    const p = parts(moment);
    return `${p.hour}:${p.minute}`;
  }

  function duration(milliseconds) {
    const minutes = Math.floor(Math.abs(milliseconds) / 60000);
    if (minutes < 1) return t("time.under_a_minute");
    const days = Math.floor(minutes / 1440);
    const hours = Math.floor((minutes % 1440) / 60);
    const rest = minutes % 60;
    const pieces = [];
    if (days) pieces.push(t("time.days", { n: days }));
    if (hours) pieces.push(t("time.hours", { n: hours }));
    if (rest && !days) pieces.push(t("time.minutes", { n: rest }));
    return pieces.join(" ");
  }

  // "nog 1 u 20 min" / "3 min te laat"
  function timeLeft(dueIso, now = Date.now()) {
    const left = Date.parse(dueIso) - now;
    return left >= 0 ? t("time.left", { time: duration(left) }) : t("time.overdue", { time: duration(left) });
  }

  // The deadline that matters now, as the server orders the queue.
  function currentDeadline(ticket) {
    if (ticket.status === "resolved" || ticket.status === "closed") return { kind: "met", due: null };
    if (ticket.status === "waiting" || ticket.sla_state === "paused") return { kind: "paused", due: null };
    if (!ticket.first_responded_at && ticket.first_response_due) {
      return { kind: "first_response", due: ticket.first_response_due };
    }
    if (ticket.next_response_due) return { kind: "next_response", due: ticket.next_response_due };
    if (ticket.resolution_due) return { kind: "resolution", due: ticket.resolution_due };
    return { kind: "none", due: null };
  }

  // running (green), at_risk (amber), breached (red), paused, met or none.
  // At risk is computed here until the server marks it: less than 20% of the time to the deadline left.
  function slaLevel(ticket, now = Date.now()) {
    const deadline = currentDeadline(ticket);
    if (!deadline.due) return { ...deadline, level: deadline.kind === "paused" || deadline.kind === "met" ? deadline.kind : "none" };
    const due = Date.parse(deadline.due);
    const start = Date.parse(ticket.opened_at);
    const left = due - now;
    let level = "running";
    if (left < 0) level = "breached";
    else if (ticket.sla_state === "at_risk" || (due > start && left < AT_RISK_SHARE * (due - start))) level = "at_risk";
    return { ...deadline, level };
  }

  // Shapes as well as colours: a tick, a warning triangle, a cross, a pause sign.
  const ICONS = {
    running: '<circle cx="8" cy="8" r="7" fill="currentColor"/><path d="M4.5 8.2l2.3 2.3 4.7-4.8" stroke="#fff" stroke-width="1.8" fill="none"/>',
    at_risk: '<path d="M8 1l7.5 13.5h-15z" fill="currentColor"/><path d="M8 5.5v4.5M8 11.5v1.6" stroke="#fff" stroke-width="1.8"/>',
    breached: '<rect x="1" y="1" width="14" height="14" rx="2" fill="currentColor"/><path d="M5 5l6 6M11 5l-6 6" stroke="#fff" stroke-width="1.8"/>',
    paused: '<circle cx="8" cy="8" r="7" fill="currentColor"/><path d="M6 4.8v6.4M10 4.8v6.4" stroke="#fff" stroke-width="1.8"/>',
    met: '<circle cx="8" cy="8" r="7" fill="currentColor"/><path d="M4.5 8.2l2.3 2.3 4.7-4.8" stroke="#fff" stroke-width="1.8" fill="none"/>',
    none: '<circle cx="8" cy="8" r="6" stroke="currentColor" stroke-width="2" fill="none"/>',
  };

  function slaIcon(level) {
    const span = document.createElement("span");
    span.className = "sla-icon";
    span.setAttribute("aria-hidden", "true");
    span.innerHTML = `<svg viewBox="0 0 16 16" width="16" height="16" focusable="false">${ICONS[level] || ICONS.none}</svg>`;
    return span;
  }

  // Small DOM helper: el("p", {className: "x"}, "text", child, ...)
  function el(tag, properties = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(properties)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className" || key === "textContent" || key === "href" || key === "id" || key === "hidden") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Screen readers hear this; the text is cleared first so a repeat is announced again.
  const live = document.getElementById("live");
  function announce(message) {
    if (!live) return;
    live.textContent = "";
    window.setTimeout(() => {
      live.textContent = message;
    }, 50);
  }

  // The server's error detail, as text (it is a string, a {message} object or a validation list).
  function detailText(data) {
    const detail = data && data.detail;
    if (!detail) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((item) => item.msg || JSON.stringify(item)).join("; ");
    if (typeof detail === "object" && detail.message) return detail.message;
    return JSON.stringify(detail);
  }

  function isTyping(target) {
    return Boolean(target.closest && target.closest("input, textarea, select, [contenteditable]"));
  }

  return { t, label, api, formatDate, formatClock, timeLeft, currentDeadline, slaLevel, slaIcon, el, announce, detailText, isTyping, page };
})();
