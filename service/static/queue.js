// The queue page: live list of a department's open tickets (polled every 5 s), claim next, keyboard moves.
"use strict";

(() => {
  const { t, label, api, formatClock, formatDate, timeLeft, slaLevel, slaIcon, el, announce, detailText, isTyping, page } =
    Webcare;
  const POLL_MS = 5000;
  const PREVIEW_FETCHES_AT_ONCE = 4;

  const tbody = document.getElementById("queue-rows");
  const countText = document.getElementById("queue-count");
  const updatedText = document.getElementById("queue-updated");
  const empty = document.getElementById("queue-empty");
  const notice = document.getElementById("queue-notice");
  const claimButton = document.getElementById("claim-next");

  const rows = new Map(); // ticket id -> <tr>
  const previews = new Map(); // ticket id -> first line of what the citizen wrote
  const previewQueue = [];
  const previewAsked = new Set();
  let previewsRunning = 0;
  let timer = null;
  let loading = false;
  let lastCount = null;
  let offline = false;

  // Rows ------------------------------------------------------------------------------------------

  function buildRow(ticket) {
    const cells = {
      time: el("td", { className: "cell-time" }),
      id: el("span", { className: "ticket-id" }),
      preview: el("span", { className: "preview" }),
      status: el("span", { className: "row-status" }),
      category: el("td", { "data-label": t("queue.col.category") }),
      channel: el("td", { "data-label": t("queue.col.channel") }),
      author: el("td", { className: "cell-author", "data-label": t("queue.col.author") }),
      priority: el("td", { "data-label": t("queue.col.priority") }),
      assignee: el("td", { "data-label": t("queue.col.assignee") }),
    };
    cells.link = el("a", { href: `/tickets/${ticket.id}`, className: "row-link" }, cells.id, " ", cells.preview);
    const message = el("th", { scope: "row", className: "cell-message" }, cells.link, cells.status);
    const row = el("tr", { "data-id": ticket.id }, cells.time, message, cells.category, cells.channel, cells.author, cells.priority, cells.assignee);
    row.cells_ = cells;
    return row;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function updateRow(row, ticket, now) {
    const cells = row.cells_;
    const sla = slaLevel(ticket, now);
    const headline = sla.due ? timeLeft(sla.due, now) : t(`sla.${sla.level}`);
    const detail = sla.due ? `${t(`sla.${sla.level}`)} · ${t(`deadline.${sla.kind}`)}` : "";
    const signature = `${sla.level}|${headline}|${detail}`;
    if (cells.time.dataset.signature !== signature) {
      cells.time.dataset.signature = signature;
      cells.time.replaceChildren(
        el("span", { className: `sla sla--${sla.level}` }, slaIcon(sla.level), el("span", { className: "sla-text" }, headline)),
        detail ? el("span", { className: "sla-detail" }, detail) : null,
      );
      cells.time.title = sla.due ? formatDate(sla.due) : "";
    }
    setText(cells.id, `#${ticket.id}`);
    const preview = previews.get(ticket.id);
    setText(cells.preview, preview === undefined ? t("queue.preview_loading") : preview);
    cells.preview.classList.toggle("is-loading", preview === undefined);
    setText(cells.status, ticket.status === "new" ? "" : label("status", ticket.status));
    setText(cells.category, label("category", ticket.category));
    setText(cells.channel, label("channel", ticket.channel));
    setText(cells.author, ticket.author_name || ticket.author_handle);
    cells.author.title = ticket.author_handle;
    const priority = `${ticket.priority}`;
    if (cells.priority.dataset.value !== priority) {
      cells.priority.dataset.value = priority;
      cells.priority.replaceChildren(el("span", { className: `badge badge--${priority}` }, label("priority", priority)));
    }
    const holder = ticket.assignee;
    if (cells.assignee.dataset.value !== (holder || "")) {
      cells.assignee.dataset.value = holder || "";
      cells.assignee.replaceChildren(
        holder ? holder : el("span", { className: "muted" }, el("span", { "aria-hidden": "true" }, "–"), el("span", { className: "visually-hidden" }, t("queue.nobody"))),
      );
    }
    const heldUntil = ticket.claimed_until ? Date.parse(ticket.claimed_until) : 0;
    row.classList.toggle("is-mine", holder === page.user);
    row.classList.toggle("is-taken", Boolean(holder) && holder !== page.user && heldUntil > now);
  }

  function render(tickets, total) {
    const now = Date.now();
    const focusedRow = document.activeElement && document.activeElement.closest ? document.activeElement.closest("#queue-rows tr") : null;
    const focusedIndex = focusedRow ? [...tbody.children].indexOf(focusedRow) : -1;
    const seen = new Set();
    let arrivals = 0;

    tickets.forEach((ticket, index) => {
      seen.add(ticket.id);
      let row = rows.get(ticket.id);
      if (!row) {
        row = buildRow(ticket);
        rows.set(ticket.id, row);
        if (lastCount !== null) {
          arrivals += 1;
          row.classList.add("is-new");
          window.setTimeout(() => row.classList.remove("is-new"), 4000);
        }
      }
      askPreview(ticket);
      updateRow(row, ticket, now);
      if (tbody.children[index] !== row) tbody.insertBefore(row, tbody.children[index] || null);
    });
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.remove();
        rows.delete(id);
      }
    }

    // Keep the keyboard where it was: the same ticket, or the row that took its place.
    if (focusedRow) {
      const target = focusedRow.isConnected ? focusedRow : tbody.children[Math.min(focusedIndex, tbody.children.length - 1)];
      const link = target ? target.querySelector("a.row-link") : null;
      if (link && document.activeElement !== link) link.focus({ preventScroll: true });
      else if (!link) claimButton.focus({ preventScroll: true });
    }

    empty.hidden = tickets.length > 0;
    const counted = total === 1 ? t("queue.count_one") : t("queue.count_other", { count: total });
    setText(countText, counted);
    setText(updatedText, t("queue.updated_at", { time: formatClock(new Date(now)) }));
    if (lastCount === null || total !== lastCount) {
      announce(arrivals ? `${counted}, ${t("queue.new_arrivals", { count: arrivals })}` : counted);
    }
    lastCount = total;
  }

  // The list carries each ticket's preview; older servers did not, so fetch the ticket once if it is missing.
  function firstLine(text) {
    const line = (text || "").split(/\r?\n/).find((part) => part.trim()) || "";
    return line.trim().slice(0, 300);
  }

  function askPreview(ticket) {
    if (typeof ticket.preview === "string") {
      previews.set(ticket.id, firstLine(ticket.preview));
      return;
    }
    if (previews.has(ticket.id) || previewAsked.has(ticket.id)) return;
    previewAsked.add(ticket.id);
    previewQueue.push(ticket.id);
    pumpPreviews();
  }

  function pumpPreviews() {
    while (previewsRunning < PREVIEW_FETCHES_AT_ONCE && previewQueue.length) {
      const id = previewQueue.shift();
      if (!rows.has(id)) {
        previewAsked.delete(id);
        continue;
      }
      previewsRunning += 1;
      api("GET", `/tickets/${id}`)
        .then((result) => {
          if (!result.ok) {
            previewAsked.delete(id); // try again on the next refresh
            return;
          }
          const messages = result.data.messages || [];
          const first = messages.find((m) => m.direction === "inbound") || messages[0];
          previews.set(id, firstLine(first ? first.text : ""));
          const row = rows.get(id);
          if (row) {
            setText(row.cells_.preview, previews.get(id));
            row.cells_.preview.classList.remove("is-loading");
          }
        })
        .finally(() => {
          previewsRunning -= 1;
          pumpPreviews();
        });
    }
  }

  // Polling ---------------------------------------------------------------------------------------

  function schedule() {
    window.clearTimeout(timer);
    if (!document.hidden) timer = window.setTimeout(refresh, POLL_MS);
  }

  async function refresh() {
    window.clearTimeout(timer);
    if (loading) return;
    loading = true;
    const result = await api("GET", `/queue/${encodeURIComponent(page.department)}?limit=200`);
    loading = false;
    if (result.ok) {
      if (offline) hideNotice();
      offline = false;
      render(result.data.data, result.data.count);
    } else if (result.status !== 401 && !offline) {
      offline = true;
      showNotice(t("queue.offline"), "error");
    }
    schedule();
  }

  // Quiet while the tab is hidden; catch up at once when it shows again.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) window.clearTimeout(timer);
    else refresh();
  });

  // Claim next ------------------------------------------------------------------------------------

  function showNotice(message, kind = "info") {
    notice.textContent = message;
    notice.className = `notice${kind === "error" ? " notice--error" : ""}`;
    notice.hidden = false;
    announce(message);
  }

  function hideNotice() {
    notice.hidden = true;
    notice.textContent = "";
  }

  async function claimNext() {
    if (claimButton.disabled) return;
    claimButton.disabled = true;
    claimButton.setAttribute("aria-busy", "true");
    hideNotice();
    announce(t("queue.claiming"));
    const result = await api("POST", `/queue/${encodeURIComponent(page.department)}/claim`);
    if (result.status === 200 && result.data) {
      window.location.assign(`/tickets/${result.data.id}`);
      return;
    }
    claimButton.disabled = false;
    claimButton.removeAttribute("aria-busy");
    if (result.status === 204) showNotice(t("queue.nothing_to_do"));
    else if (result.status === 0) showNotice(t("problem.network"), "error");
    else if (result.status === 403) showNotice(t("problem.forbidden"), "error");
    else if (result.status !== 401) showNotice(t("problem.server", { status: `${result.status} ${detailText(result.data)}`.trim() }), "error");
    refresh();
  }

  claimButton.addEventListener("click", claimNext);

  // Keyboard: n claims, j/k move between rows, Enter follows the focused row's link.
  function moveFocus(step) {
    const links = [...tbody.querySelectorAll("a.row-link")];
    if (!links.length) return;
    const current = links.indexOf(document.activeElement);
    const next = current === -1 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, current + step));
    links[next].focus({ preventScroll: true });
    links[next].closest("tr").scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || isTyping(event.target)) return;
    if (event.key === "n") {
      event.preventDefault();
      claimNext();
    } else if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      moveFocus(event.key === "j" ? 1 : -1);
    }
  });

  // A click anywhere on a row opens it, as the link in it does.
  tbody.addEventListener("click", (event) => {
    if (event.target.closest("a, button") || (window.getSelection && String(window.getSelection()))) return;
    const row = event.target.closest("tr");
    if (row) row.querySelector("a.row-link").click();
  });

  refresh();
})();
