// The ticket page: the conversation and timeline, and working the ticket through the JSON API.
"use strict";

(() => {
  const { t, label, api, formatDate, timeLeft, slaLevel, slaIcon, el, announce, detailText, page } = Webcare;
  const POLL_MS = 15000;
  const ticketId = page.ticket;
  const me = page.user;
  const $ = (id) => document.getElementById(id);

  let ticket = null;
  let busy = false;
  let templates = [];
  let templatesKey = null;
  let templateBody = null; // the text a template put in the reply box, to know whether the agent changed it
  let lastTemplateChoice = "";
  let renderedMessages = "";
  let renderedTimeline = "";
  let renderedCategory = null;
  let renderedDepartment = null;
  let noticeTimer = null;

  const isClosed = (status) => status === "resolved" || status === "closed";
  const departmentName = (slug) => (page.departments && page.departments[slug]) || slug || "";
  const percent = (value) => `${Math.round(Number(value || 0) * 100)}%`;

  function heldNow(current) {
    return Boolean(current.assignee && current.claimed_until && Date.parse(current.claimed_until) > Date.now());
  }

  // Notices ---------------------------------------------------------------------------------------

  function showNotice(message, kind = "success", extra = null) {
    window.clearTimeout(noticeTimer);
    const box = $("notice");
    $("notice-text").replaceChildren(message, extra ? " " : "", extra || "");
    box.className = `notice notice--sticky notice--${kind}`;
    box.hidden = false;
    if (kind === "error") {
      box.focus({ preventScroll: false });
    } else {
      announce(message);
      noticeTimer = window.setTimeout(hideNotice, 8000);
    }
  }

  function hideNotice() {
    window.clearTimeout(noticeTimer);
    $("notice").hidden = true;
  }

  $("notice-close").addEventListener("click", hideNotice);

  // Rendering -------------------------------------------------------------------------------------

  function badge(className, text) {
    return el("span", { className: `badge ${className}` }, text);
  }

  function slaBadge(current) {
    const sla = slaLevel(current);
    const text = sla.due ? `${timeLeft(sla.due)} · ${t(`deadline.${sla.kind}`)}` : t(`sla.${sla.level}`);
    return el(
      "span",
      { className: `sla sla--${sla.level} sla--badge`, title: sla.due ? formatDate(sla.due) : null },
      slaIcon(sla.level),
      el("span", { className: "visually-hidden" }, `${t(`sla.${sla.level}`)}: `),
      el("span", { className: "sla-text" }, text),
    );
  }

  function renderHead() {
    $("ticket-badges").replaceChildren(
      badge(`badge--status badge--${ticket.status}`, label("status", ticket.status)),
      badge(`badge--${ticket.priority}`, label("priority", ticket.priority)),
      slaBadge(ticket),
    );
    const holder = $("holder");
    if (heldNow(ticket)) {
      holder.textContent = ticket.assignee === me ? t("ticket.held_by_you") : t("ticket.held_by_other", { name: ticket.assignee });
      holder.className = `holder${ticket.assignee === me ? " holder--me" : " holder--other"}`;
      holder.hidden = false;
    } else {
      holder.hidden = true;
    }
  }

  function showViewers(names) {
    const box = $("viewers");
    if (names && names.length) {
      box.textContent = t("ticket.viewers", { names: names.join(", ") });
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  function renderMessages() {
    const signature = ticket.messages.map((m) => m.id).join(",");
    if (signature === renderedMessages) return;
    renderedMessages = signature;
    // Acknowledgements the system sent on its own, as the timeline records them.
    const automatic = new Set(ticket.timeline.filter((e) => e.kind === "acknowledged").map((e) => e.data.message_id));
    $("messages").replaceChildren(
      ...ticket.messages.map((message) => {
        const outbound = message.direction === "outbound";
        const who = message.author_name ? `${message.author_name} (${message.author_handle})` : message.author_handle;
        return el(
          "li",
          { className: `message message--${message.direction}${automatic.has(message.id) ? " message--automatic" : ""}` },
          el(
            "article",
            {},
            el(
              "header",
              { className: "message__head" },
              el("span", { className: "message__author" }, who),
              el(
                "span",
                { className: "message__meta" },
                automatic.has(message.id) ? `${t("ticket.automatic")} · ` : "",
                `${t(outbound ? "ticket.outbound" : "ticket.inbound")} ${t("ticket.via", { channel: label("channel", message.channel) })} · `,
                el("time", { datetime: message.sent_at }, formatDate(message.sent_at)),
                message.permalink && /^https?:\/\//.test(message.permalink)
                  ? el("span", {}, " · ", el("a", { href: message.permalink, rel: "noopener noreferrer", target: "_blank" }, t("ticket.open_original")))
                  : null,
              ),
            ),
            el("p", { className: "message__text" }, message.text),
          ),
        );
      }),
    );
  }

  function deadlineValue(due, doneAt, doneKey) {
    if (doneAt) {
      const done = t(doneKey, { time: formatDate(doneAt) });
      // Done after the deadline: say by how much ("11 min te laat").
      return due && Date.parse(doneAt) > Date.parse(due) ? `${done} (${timeLeft(due, Date.parse(doneAt))})` : done;
    }
    if (!due) return "–";
    return `${formatDate(due)} (${timeLeft(due)})`;
  }

  function renderDetails() {
    const rows = [
      ["field.status", label("status", ticket.status)],
      ["field.category", label("category", ticket.category)],
      ticket.subcategory ? ["field.subcategory", label("subcategory", ticket.subcategory)] : null,
      ["field.confidence", percent(ticket.confidence)],
      [
        "field.reasons",
        ticket.reasons && ticket.reasons.length
          ? el("ul", { className: "reasons" }, ...ticket.reasons.map((reason) => el("li", {}, reason)))
          : el("span", { className: "muted" }, t("ticket.no_reasons")),
      ],
      ["field.priority", label("priority", ticket.priority)],
      ["field.department", departmentName(ticket.department)],
      ["field.assignee", ticket.assignee || t("queue.nobody")],
      ["field.first_response_due", deadlineValue(ticket.first_response_due, ticket.first_responded_at, "ticket.answered_at")],
      ticket.next_response_due ? ["field.next_response_due", deadlineValue(ticket.next_response_due, null, "")] : null,
      ["field.resolution_due", deadlineValue(ticket.resolution_due, ticket.resolved_at, "ticket.resolved_at")],
      ticket.outcome ? ["field.outcome", label("outcome", ticket.outcome)] : null,
      ["field.model", ticket.model_version],
    ].filter(Boolean);
    $("details").replaceChildren(...rows.map(([key, value]) => el("div", {}, el("dt", {}, t(key)), el("dd", {}, value))));
  }

  function describe(event) {
    const d = event.data || {};
    switch (event.kind) {
      case "message_received":
        return t("event.message_received", { channel: label("channel", d.channel) });
      case "classified":
        return t("event.classified", { category: label("category", d.category), confidence: percent(d.confidence) });
      case "routed":
        return d.rule
          ? t("event.routed_rule", { department: departmentName(d.department), rule: d.rule })
          : t("event.routed", { department: departmentName(d.department) });
      case "targets_set": {
        const due = ["first_response", "next_response", "resolution"]
          .filter((kind) => d[`${kind}_due`])
          .map((kind) => `${t(`deadline.${kind}`)} ${formatDate(d[`${kind}_due`])}`);
        return due.length ? `${t("event.targets_set")}: ${due.join(", ")}` : t("event.targets_set");
      }
      case "claimed":
        return t("event.claimed", { assignee: d.assignee || event.actor });
      case "released":
        return t("event.released");
      case "replied":
        return d.template ? t("event.replied_template", { template: d.template }) : t("event.replied");
      case "note":
        return t("event.note", { text: d.text || "" });
      case "status_changed":
        return d.outcome
          ? t("event.status_changed_outcome", { from: label("status", d.from), to: label("status", d.to), outcome: label("outcome", d.outcome) })
          : t("event.status_changed", { from: label("status", d.from), to: label("status", d.to) });
      case "category_changed":
        return t("event.category_changed", { from: label("category", d.from), to: label("category", d.to) });
      case "moved":
        return t("event.moved", { from: departmentName(d.from), to: departmentName(d.to) });
      case "priority_changed":
        return t("event.priority_changed", { from: label("priority", d.from), to: label("priority", d.to) });
      case "sla_resumed":
        return t("event.sla_resumed");
      case "sla_at_risk":
        return t("event.sla_at_risk", { target: label("deadline", d.target) });
      case "sla_breached":
        return t("event.sla_breached", { target: label("deadline", d.target) });
      case "acknowledged":
        return t("event.acknowledged");
      case "delivery_queued":
        return t("event.delivery_queued", { target: String(d.target || "").replace(/_/g, " ") });
      default:
        return t("event.other", { kind: String(event.kind).replace(/_/g, " ") });
    }
  }

  function renderTimeline() {
    const signature = `${ticket.timeline.length}|${document.documentElement.lang}`;
    if (signature === renderedTimeline) return;
    renderedTimeline = signature;
    $("timeline").replaceChildren(
      ...ticket.timeline.map((event) =>
        el(
          "li",
          { className: `timeline__item timeline__item--${event.kind}` },
          el("time", { datetime: event.at }, formatDate(event.at)),
          el("span", { className: "timeline__actor" }, event.actor === "system" ? t("timeline.system") : event.actor),
          el("span", { className: "timeline__what" }, describe(event)),
        ),
      ),
    );
  }

  function renderActions() {
    const status = ticket.status;
    const closed = isClosed(status);
    const held = heldNow(ticket);
    const mine = held && ticket.assignee === me;
    $("claim").hidden = closed || status === "waiting" || held;
    $("release").hidden = closed || !mine;
    $("wait").hidden = status !== "open";
    $("wait-hint").hidden = status !== "open";
    $("resume").hidden = status !== "waiting";
    $("reopen").hidden = !closed;
    $("claim-next").hidden = !closed;
    $("resolve-form").hidden = closed;
    $("reply-form").hidden = closed;
    $("reply-closed").hidden = !closed;
    $("reply-hint").textContent = t("action.reply_hint", { channel: label("channel", ticket.channel) });
    $("reply-label").textContent = t("action.reply_text", { name: ticket.author_name || ticket.author_handle });
    // Keep what the agent is choosing; follow the ticket only when it changed.
    if (renderedCategory !== ticket.category) $("category").value = ticket.category;
    if (renderedDepartment !== ticket.department) $("department").value = ticket.department;
    renderedCategory = ticket.category;
    renderedDepartment = ticket.department;
  }

  function render() {
    $("loading").hidden = true;
    $("ticket").hidden = false;
    renderHead();
    showViewers(ticket.viewers);
    renderMessages();
    renderDetails();
    renderTimeline();
    renderActions();
  }

  function gone() {
    $("ticket").hidden = true;
    $("ticket-badges").replaceChildren();
    $("holder").hidden = true;
    const loading = $("loading");
    loading.replaceChildren(t("ticket.gone"), " ", el("a", { href: "/queue" }, t("error.back")));
    loading.hidden = false;
    window.clearInterval(poller);
  }

  // Loading ---------------------------------------------------------------------------------------

  async function load() {
    const result = await api("GET", `/tickets/${ticketId}`);
    if (result.ok) {
      const changed = ticket !== null && result.data.version !== ticket.version;
      ticket = result.data;
      render();
      const key = `${ticket.category}|${ticket.first_responded_at}|${ticket.status}`;
      if (key !== templatesKey) loadTemplates(key);
      return { ok: true, changed };
    }
    if (result.status === 403 || result.status === 404) gone();
    return { ok: false, result };
  }

  async function loadTemplates(key) {
    templatesKey = key;
    const result = await api("GET", `/tickets/${ticketId}/templates`);
    if (!result.ok) return;
    templates = result.data.data;
    const select = $("reply-template");
    const chosen = select.value;
    const language = document.documentElement.lang;
    select.replaceChildren(
      el("option", { value: "" }, t("action.template_none")),
      ...templates.map((template) =>
        el("option", { value: String(template.id) }, template.language === language ? template.name : `${template.name} (${template.language})`),
      ),
    );
    if (templates.some((template) => String(template.id) === chosen)) select.value = chosen;
    lastTemplateChoice = select.value;
  }

  // Acting ----------------------------------------------------------------------------------------

  function setBusy(value) {
    busy = value;
    $("ticket").setAttribute("aria-busy", value ? "true" : "false");
    for (const button of document.querySelectorAll("#ticket button")) button.disabled = value;
  }

  async function explain(result) {
    const detail = result.data && result.data.detail;
    let message;
    if (result.status === 0) message = t("problem.network");
    else if (result.status === 409 && detail && typeof detail === "object" && "current" in detail) message = t("problem.stale");
    else if (result.status === 409 && detail && detail.code === "held_by") {
      message = t("problem.held_by", { name: detail.holder });
    } else if (result.status === 409) message = t("problem.conflict", { message: detailText(result.data) });
    else if (result.status === 422) message = t("problem.invalid", { message: detailText(result.data) });
    else if (result.status === 403) message = t("problem.forbidden");
    else message = t("problem.server", { status: result.status });
    showNotice(message, "error");
    // Someone else may have changed it: show what is true now.
    if (result.status === 409 || result.status === 403) await load();
  }

  async function perform(request, done) {
    if (busy || !ticket) return false;
    setBusy(true);
    hideNotice();
    let result;
    try {
      result = await request();
    } finally {
      setBusy(false);
    }
    if (result.ok) {
      showNotice(typeof done === "function" ? done(result.data) : done);
      await load();
      return true;
    }
    if (result.status !== 401) await explain(result);
    return false;
  }

  const patch = (body) => api("PATCH", `/tickets/${ticketId}`, { version: ticket.version, ...body });

  $("claim").addEventListener("click", () =>
    perform(() => api("POST", `/tickets/${ticketId}/claim`), t("done.claimed")),
  );
  $("release").addEventListener("click", () =>
    perform(() => api("POST", `/tickets/${ticketId}/release`, { version: ticket.version }), t("done.released")),
  );
  $("wait").addEventListener("click", () => perform(() => patch({ status: "waiting" }), t("done.waiting")));
  $("resume").addEventListener("click", () => perform(() => patch({ status: "open" }), t("done.resumed")));
  $("reopen").addEventListener("click", () => perform(() => patch({ status: "reopened" }), t("done.reopened")));

  $("claim-next").addEventListener("click", async () => {
    if (busy) return;
    setBusy(true);
    const result = await api("POST", `/queue/${encodeURIComponent(ticket.department)}/claim`);
    setBusy(false);
    if (result.status === 200 && result.data) window.location.assign(`/tickets/${result.data.id}`);
    else if (result.status === 204) showNotice(t("queue.nothing_to_do"), "info", el("a", { href: `/queue?department=${encodeURIComponent(ticket.department)}` }, t("ticket.back")));
    else if (result.status !== 401) await explain(result);
  });

  $("resolve-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const outcome = $("outcome").value;
    if (!outcome) {
      showNotice(t("problem.choose_outcome"), "error");
      $("outcome").focus();
      return;
    }
    perform(() => patch({ status: "resolved", outcome }), t("done.resolved")).then((ok) => {
      if (ok) $("outcome").value = "";
    });
  });

  $("reply-template").addEventListener("change", (event) => {
    const select = event.target;
    const textarea = $("reply-text");
    const chosen = templates.find((template) => String(template.id) === select.value);
    const ownText = textarea.value.trim() !== "" && textarea.value !== templateBody;
    if (chosen && ownText && !window.confirm(t("action.template_replace"))) {
      select.value = lastTemplateChoice;
      return;
    }
    lastTemplateChoice = select.value;
    if (chosen) {
      textarea.value = chosen.body;
      templateBody = chosen.body;
    } else if (!ownText) {
      textarea.value = "";
      templateBody = null;
    }
  });

  $("reply-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const textarea = $("reply-text");
    const text = textarea.value.trim();
    if (!text) {
      showNotice(t("problem.empty_text"), "error");
      textarea.focus();
      return;
    }
    const templateId = $("reply-template").value;
    const body = { text, version: ticket.version };
    if (templateId) body.template_id = Number(templateId);
    perform(() => api("POST", `/tickets/${ticketId}/replies`, body), t("done.replied")).then((ok) => {
      if (!ok) return;
      textarea.value = "";
      templateBody = null;
      $("reply-template").value = "";
      lastTemplateChoice = "";
    });
  });

  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("reply-form").requestSubmit();
    }
  });

  $("note-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const textarea = $("note-text");
    const text = textarea.value.trim();
    if (!text) {
      showNotice(t("problem.empty_text"), "error");
      textarea.focus();
      return;
    }
    perform(() => api("POST", `/tickets/${ticketId}/notes`, { text }), t("done.noted")).then((ok) => {
      if (ok) textarea.value = "";
    });
  });

  $("category-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const category = $("category").value;
    if (category === ticket.category) {
      showNotice(t("problem.same_category"), "error");
      return;
    }
    perform(() => patch({ category }), t("done.category", { category: label("category", category) }));
  });

  $("move-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const department = $("department").value;
    if (department === ticket.department) return;
    perform(() => patch({ department }), t("done.moved", { department: departmentName(department) }));
  });

  // Presence and freshness ------------------------------------------------------------------------

  async function heartbeat() {
    const result = await api("POST", `/tickets/${ticketId}/presence`);
    if (result.ok) showViewers(result.data);
  }

  async function poll() {
    await heartbeat();
    if (busy || document.hidden) return;
    const outcome = await load();
    if (outcome.ok && outcome.changed && !busy) showNotice(t("done.changed_by_other"), "info");
  }

  const poller = window.setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) poll();
  });

  heartbeat();
  load().then((outcome) => {
    if (!outcome.ok && outcome.result && outcome.result.status !== 403 && outcome.result.status !== 404) {
      explain(outcome.result);
    }
  });
})();
