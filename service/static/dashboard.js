// The managers' dashboard: filters in the URL, figures from the reports API every 30 s, charts as inline SVG.
"use strict";

(() => {
  const { t, label, api, formatClock, slaIcon, el, announce, page } = Webcare;
  const REFRESH_MS = 30000;
  const TIME_ZONE = "Europe/Amsterdam";
  const PERIODS = ["today", "7d", "30d", "custom"];
  const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  const DEFAULT_TEAM = "kcc"; // whose opening hours the heatmap shades when no team is chosen
  const SVG_NS = "http://www.w3.org/2000/svg";
  const locale = document.documentElement.lang === "en" ? "en-GB" : "nl-NL";
  const wholeNumber = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
  const oneDecimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });

  const form = document.getElementById("dash-filters");
  const controls = {
    period: document.getElementById("f-period"),
    from: document.getElementById("f-from"),
    to: document.getElementById("f-to"),
    department: document.getElementById("f-department"),
    category: document.getElementById("f-category"),
    channel: document.getElementById("f-channel"),
    clock: document.getElementById("f-clock-value"),
    trend: document.getElementById("f-trend-value"),
  };
  const updatedText = document.getElementById("dash-updated");
  const notice = document.getElementById("dash-notice");
  const csvLink = document.getElementById("dash-csv");
  const rangeText = document.getElementById("dash-range");

  let timer = null;
  let generation = 0;
  let last = null; // the figures of the latest refresh, kept to redraw without asking again
  let departments = null; // from /departments, with their opening hours
  let announceNext = false;

  // Numbers the Dutch way: "87 %", "42 min", "1,5 u" ------------------------------------------------

  function percent(share) {
    return share === null || share === undefined ? "–" : t("dashboard.percent", { n: wholeNumber.format(Math.round(share * 100)) });
  }

  function minutes(value) {
    if (value === null || value === undefined) return "–";
    if (value < 59.5) return t("time.minutes", { n: wholeNumber.format(Math.round(value)) });
    if (value < 48 * 60) return t("time.hours", { n: oneDecimal.format(value / 60) });
    return t("time.days", { n: oneDecimal.format(value / 1440) });
  }

  function count(value) {
    return value === null || value === undefined ? "–" : wholeNumber.format(value);
  }

  // Days in Amsterdam, as "YYYY-MM-DD", whatever the computer's own zone --------------------------------

  const amsterdamFormat = new Intl.DateTimeFormat("en-CA", {
    timeZone: TIME_ZONE,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });

  function amsterdamParts(milliseconds) {
    const found = {};
    for (const part of amsterdamFormat.formatToParts(new Date(milliseconds))) found[part.type] = Number(part.value);
    return found;
  }

  function today() {
    const p = amsterdamParts(Date.now());
    return isoDay(Date.UTC(p.year, p.month - 1, p.day));
  }

  function isoDay(utcMilliseconds) {
    return new Date(utcMilliseconds).toISOString().slice(0, 10);
  }

  function dayValue(day) {
    const [year, month, date] = day.split("-").map(Number);
    return Date.UTC(year, month - 1, date);
  }

  function addDays(day, days) {
    return isoDay(dayValue(day) + days * 86400000);
  }

  function weekdayIndex(day) {
    return (new Date(dayValue(day)).getUTCDay() + 6) % 7; // Monday 0
  }

  function isDay(value) {
    return /^\d{4}-\d{2}-\d{2}$/.test(value || "") && !Number.isNaN(dayValue(value));
  }

  // The instant Amsterdam's clock shows midnight at the start of that day (daylight saving correct).
  function midnight(day) {
    const guess = dayValue(day);
    const offsetAt = (moment) => {
      const p = amsterdamParts(moment);
      return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(moment / 1000) * 1000;
    };
    return new Date(guess - offsetAt(guess - offsetAt(guess))).toISOString();
  }

  function dayLabel(day, { weekday = true } = {}) {
    const [, month, date] = day.split("-").map(Number);
    const name = t("dates.months").split(" ")[month - 1];
    const prefix = weekday ? `${t("dates.weekdays").split(" ")[weekdayIndex(day)]} ` : "";
    return `${prefix}${date} ${name}`;
  }

  function isoWeek(day) {
    const thursday = dayValue(day) + (3 - weekdayIndex(day)) * 86400000;
    const yearStart = Date.UTC(new Date(thursday).getUTCFullYear(), 0, 1);
    return Math.floor((thursday - yearStart) / 604800000) + 1;
  }

  // The state of the page: the form is the truth, the URL mirrors it -------------------------------------

  function readState() {
    return {
      period: PERIODS.includes(controls.period.value) ? controls.period.value : "7d",
      from: isDay(controls.from.value) ? controls.from.value : "",
      to: isDay(controls.to.value) ? controls.to.value : "",
      department: controls.department.value,
      category: controls.category.value,
      channel: controls.channel.value,
      clock: controls.clock.value === "calendar" ? "calendar" : "business",
      trend: controls.trend.value === "week" ? "week" : "day",
    };
  }

  // The first and last day of the chosen period (both included).
  function periodDays(state) {
    const now = today();
    if (state.period === "today") return { first: now, last: now };
    if (state.period === "30d") return { first: addDays(now, -29), last: now };
    if (state.period === "custom" && (state.from || state.to)) {
      const first = state.from || state.to;
      const lastDay = state.to || now;
      return first <= lastDay ? { first, last: lastDay } : { first: lastDay, last: first };
    }
    return { first: addDays(now, -6), last: now };
  }

  function pageQuery(state) {
    const query = new URLSearchParams();
    if (state.period !== "7d") query.set("period", state.period); // the default view keeps a bare URL
    if (state.period === "custom") {
      if (state.from) query.set("from", state.from);
      if (state.to) query.set("to", state.to);
    }
    for (const key of ["department", "category", "channel"]) if (state[key]) query.set(key, state[key]);
    if (state.clock === "calendar") query.set("clock", "calendar");
    if (state.trend === "week") query.set("trend", "week");
    return query;
  }

  function reflectInUrl(state) {
    const query = pageQuery(state);
    const url = query.toString() ? `${window.location.pathname}?${query}` : window.location.pathname;
    if (url !== window.location.pathname + window.location.search) window.history.replaceState(null, "", url);
    // The language switch keeps the view.
    const switcher = document.querySelector(".language-switch");
    if (switcher) {
      const other = switcher.getAttribute("hreflang");
      query.set("lang", other);
      switcher.href = `${window.location.pathname}?${query}`;
    }
  }

  function apiQuery(values) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(values)) if (value) query.set(key, value);
    return query.toString();
  }

  // Fetching ------------------------------------------------------------------------------------------

  function trendDays(state) {
    const now = today();
    if (state.trend === "week") {
      const monday = addDays(now, -weekdayIndex(now));
      return Array.from({ length: 12 }, (_, i) => addDays(monday, (i - 11) * 7));
    }
    return Array.from({ length: 30 }, (_, i) => addDays(now, i - 29));
  }

  async function fetchAll(state) {
    const days = periodDays(state);
    const period = { from: midnight(days.first), to: midnight(addDays(days.last, 1)) };
    const filters = { department: state.department, category: state.category, channel: state.channel };
    const now = today();
    const buckets = trendDays(state);
    const summary = (values) => api("GET", `/reports/summary?${apiQuery(values)}`);
    const asks = {
      main: summary({ ...period, ...filters }),
      today: summary({ from: midnight(now), to: midnight(addDays(now, 1)), ...filters }),
      teams: Promise.all(page.departments.map((slug) => summary({ ...period, ...filters, department: slug }))),
      categories: Promise.all(page.categories.map((value) => summary({ ...period, ...filters, category: value }))),
      channels: Promise.all(page.channels.map((value) => summary({ ...period, ...filters, channel: value }))),
      series: api(
        "GET",
        `/reports/timeseries?${apiQuery({ from: midnight(buckets[0]), to: midnight(addDays(now, 1)), ...filters, interval: state.trend })}`,
      ),
      heatmap: api("GET", `/reports/heatmap?${apiQuery({ ...period, ...filters })}`),
      departments: departments ? Promise.resolve({ ok: true, data: { data: departments } }) : api("GET", "/departments"),
    };
    const keys = Object.keys(asks);
    const answers = await Promise.all(Object.values(asks));
    const results = Object.fromEntries(keys.map((key, i) => [key, answers[i]]));
    const flat = keys.flatMap((key) => (Array.isArray(results[key]) ? results[key] : [results[key]]));
    const failed = flat.find((result) => !result.ok);
    if (failed) return { ok: false, status: failed.status };
    const data = (key) => (Array.isArray(results[key]) ? results[key].map((r) => r.data) : results[key].data);
    return {
      ok: true,
      state,
      days,
      buckets,
      main: data("main"),
      today: data("today"),
      teams: data("teams"),
      categories: data("categories"),
      channels: data("channels"),
      series: data("series").data,
      heatmap: data("heatmap").data,
      departments: data("departments").data,
    };
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!document.hidden) timer = window.setTimeout(refresh, REFRESH_MS);
  }

  async function refresh() {
    window.clearTimeout(timer);
    const mine = ++generation;
    const state = readState();
    if (mine > 1) reflectInUrl(state); // a shared link stays as it was sent until something changes
    csvLink.href = csvHref(state);
    const result = await fetchAll(state);
    if (mine !== generation) return; // a newer question is on its way
    if (result.ok) {
      departments = result.departments;
      last = result;
      notice.hidden = true;
      draw();
      updatedText.textContent = t("dashboard.updated_at", { time: formatClock(new Date()) });
      document.body.dataset.loaded = String(mine);
      if (announceNext) announce(spoken(result));
      announceNext = false;
    } else if (result.status !== 401) {
      notice.textContent = t("dashboard.offline");
      notice.hidden = false;
    }
    schedule();
  }

  function spoken(result) {
    const clock = result.state.clock;
    return t("dashboard.spoken", {
      on_time: percent(result.main.on_time_share),
      median: minutes(result.main[medianKey(clock)]),
      clock: t(`dashboard.clock.${clock}`),
    });
  }

  function csvHref(state) {
    const days = periodDays(state);
    return `/api/v1/reports/tickets.csv?${apiQuery({
      from: midnight(days.first),
      to: midnight(addDays(days.last, 1)),
      department: state.department,
      category: state.category,
      channel: state.channel,
    })}`;
  }

  const medianKey = (clock) => (clock === "calendar" ? "first_response_median_calendar_minutes" : "first_response_median_minutes");
  const p90Key = (clock) => (clock === "calendar" ? "first_response_p90_calendar_minutes" : "first_response_p90_minutes");
  const seriesMedianKey = medianKey;

  // Drawing ---------------------------------------------------------------------------------------------

  function draw() {
    if (!last) return;
    const state = readState();
    drawRange(last.days);
    drawKpis(last.main, last.today, state.clock);
    drawTeams(last.teams, state);
    drawTrends(last, state);
    drawHeatmap(last.heatmap, state);
    drawSplit(document.getElementById("split-category"), "category", page.categories, last.categories, state);
    drawSplit(document.getElementById("split-channel"), "channel", page.channels, last.channels, state);
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function drawRange(days) {
    const text = days.first === days.last ? dayLabel(days.first) : t("dashboard.range", { from: dayLabel(days.first), to: dayLabel(days.last) });
    setText(rangeText, text);
  }

  function kpi(id) {
    const card = document.getElementById(id);
    return {
      card,
      value: card.querySelector("[data-value]"),
      hint: card.querySelector("[data-hint]"),
      goal: card.querySelector("[data-goal]"),
    };
  }

  function drawKpis(main, todayFigures, clock) {
    const onTime = kpi("kpi-on-time");
    setText(onTime.value, percent(main.on_time_share));
    const goal = page.on_time_goal;
    const known = main.on_time_share !== null && main.on_time_share !== undefined;
    const met = known && main.on_time_share >= goal;
    onTime.card.classList.toggle("kpi--good", known && met);
    onTime.card.classList.toggle("kpi--bad", known && !met);
    const verdict = !known ? t("dashboard.no_data") : met ? t("dashboard.goal_met") : t("dashboard.goal_missed");
    onTime.goal.replaceChildren(
      known ? slaIcon(met ? "running" : "breached") : "",
      el("span", {}, `${t("dashboard.goal", { goal: percent(goal) })} · ${verdict}`),
    );
    const answered = main.first_responses;
    setText(onTime.hint, answered === 1 ? t("dashboard.first_responses_one") : t("dashboard.first_responses", { count: count(answered) }));

    // A long period's median and p90 come from the monthly histograms (within 1%): shown as such.
    const estimated = main.percentiles_exact === false;
    for (const [id, key] of [["kpi-median", medianKey(clock)], ["kpi-p90", p90Key(clock)]]) {
      const value = kpi(id).value;
      setText(value, `${estimated ? "≈ " : ""}${minutes(main[key])}`);
      value.title = estimated ? t("dashboard.estimated") : "";
    }
    for (const node of document.querySelectorAll("[data-clock]")) setText(node, t(`dashboard.clock.${clock}`));

    const volume = kpi("kpi-volume");
    setText(volume.value, count(main.volume));
    setText(volume.hint, t("dashboard.volume_hint", { open: count(main.backlog_total) }));

    const breaches = kpi("kpi-breaches-today");
    setText(breaches.value, count(todayFigures.breaches));
    breaches.card.classList.toggle("kpi--bad", todayFigures.breaches > 0);
    const byTarget = todayFigures.breaches_by_target || {};
    setText(
      breaches.hint,
      t("dashboard.breaches_today_hint", { first: count(byTarget.first_response || 0), resolution: count(byTarget.resolution || 0) }),
    );
  }

  function drawTeams(teams, state) {
    page.departments.forEach((slug, index) => {
      const item = document.querySelector(`.team[data-team="${slug}"]`);
      if (!item) return;
      const figures = teams[index];
      const backlog = figures.backlog || {};
      setText(item.querySelector("[data-open]"), t("dashboard.open_count", { count: count(figures.backlog_total) }));
      const states = item.querySelector("[data-states]");
      states.replaceChildren(
        el("span", { className: `sla sla--at_risk${backlog.at_risk ? "" : " is-zero"}` }, slaIcon("at_risk"), t("dashboard.at_risk_count", { count: count(backlog.at_risk || 0) })),
        " ",
        el("span", { className: `sla sla--breached${backlog.breached ? "" : " is-zero"}` }, slaIcon("breached"), t("dashboard.breached_count", { count: count(backlog.breached || 0) })),
      );
      setText(item.querySelector("[data-on-time]"), t("dashboard.team_on_time", { share: percent(figures.on_time_share) }));
      item.classList.toggle("is-selected", state.department === slug);
    });
  }

  // SVG helpers
  function svg(tag, attributes = {}, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attributes)) if (value !== undefined && value !== null) node.setAttribute(key, value);
    for (const child of children) if (child) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function drawingOf(figure) {
    const drawing = figure.querySelector("[data-drawing]");
    return { drawing, width: Math.max(280, Math.floor(drawing.clientWidth || 600)) };
  }

  function canvas(width, height) {
    return svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      "aria-hidden": "true",
      focusable: "false",
      class: "chart__svg",
    });
  }

  function niceCountMax(value) {
    if (value <= 4) return { max: 4, step: 1 };
    const rough = value / 4;
    const power = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= rough);
    return { max: Math.ceil(value / step) * step, step };
  }

  function niceMinutesMax(value) {
    const steps = [5, 10, 15, 30, 60, 120, 180, 240, 360, 480, 720, 1440, 2880, 5760, 10080, 20160];
    const step = steps.find((s) => value / s <= 4) || steps[steps.length - 1];
    return { max: Math.max(step, Math.ceil(value / step) * step), step };
  }

  function hiddenTable(caption, headers, rows) {
    // The wrapper hides it: a table is never narrower than its content, whatever its own width says.
    return el(
      "div",
      { className: "visually-hidden" },
      el(
        "table",
        {},
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...rows.map(([head, ...cells]) => el("tr", {}, el("th", { scope: "row" }, head), ...cells.map((c) => el("td", {}, c))))),
      ),
    );
  }

  function bucketLabel(day, interval, long = false) {
    if (interval === "week") {
      return long ? t("dashboard.week_of", { n: isoWeek(day), date: dayLabel(day, { weekday: false }) }) : t("dashboard.week_label", { n: isoWeek(day) });
    }
    return long ? dayLabel(day) : dayLabel(day, { weekday: false });
  }

  function trendRows(result) {
    const byDay = new Map(result.series.map((row) => [row.start.slice(0, 10), row]));
    return result.buckets.map((day) => ({ day, ...(byDay.get(day) || { volume: 0, first_responses: 0, on_time_share: null }) }));
  }

  function xAxis(group, rows, interval, x, band, baseline, plotWidth) {
    const every = Math.max(1, Math.ceil(rows.length / Math.max(1, Math.floor(plotWidth / 64))));
    rows.forEach((row, i) => {
      if ((rows.length - 1 - i) % every !== 0) return; // always label the latest bucket
      group.append(svg("text", { x: x(i) + band / 2, y: baseline + 16, "text-anchor": "middle", class: "axis-label" }, bucketLabel(row.day, interval)));
    });
  }

  function linePath(points) {
    let path = "";
    let drawing = false;
    for (const point of points) {
      if (point === null) {
        drawing = false;
        continue;
      }
      path += `${drawing ? "L" : "M"}${point[0].toFixed(1)},${point[1].toFixed(1)}`;
      drawing = true;
    }
    return path;
  }

  function drawTrends(result, state) {
    const rows = trendRows(result);
    const interval = state.trend;
    const columnName = t(interval === "week" ? "dashboard.col.week" : "dashboard.col.day");

    // Volume bars and the on-time share line (right axis, 0–100 %), with the goal as a dashed line.
    {
      const figure = document.getElementById("chart-volume");
      const { drawing, width } = drawingOf(figure);
      const height = 230;
      const margin = { left: 44, right: 48, top: 12, bottom: 26 };
      const plotWidth = width - margin.left - margin.right;
      const plotHeight = height - margin.top - margin.bottom;
      const band = plotWidth / rows.length;
      const x = (i) => margin.left + i * band;
      const scale = niceCountMax(Math.max(...rows.map((r) => r.volume), 1));
      const y = (value) => margin.top + plotHeight - (value / scale.max) * plotHeight;
      const share = (value) => margin.top + plotHeight - value * plotHeight;
      const chart = canvas(width, height);
      const grid = svg("g", { class: "grid" });
      for (let tick = 0; tick <= scale.max; tick += scale.step) {
        grid.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick) }));
        chart.append(svg("text", { x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end", class: "axis-label" }, count(tick)));
      }
      for (const tick of [0, 0.5, 1]) {
        chart.append(svg("text", { x: width - margin.right + 6, y: share(tick) + 4, class: "axis-label" }, percent(tick)));
      }
      chart.prepend(grid);
      const bars = svg("g", { class: "bars" });
      rows.forEach((row, i) => {
        const top = y(row.volume);
        bars.append(
          svg(
            "rect",
            { x: x(i) + band * 0.15, y: top, width: Math.max(1, band * 0.7), height: Math.max(0, margin.top + plotHeight - top), rx: 1.5 },
            svg("title", {}, `${bucketLabel(row.day, interval, true)}: ${t("dashboard.tip.volume", { count: count(row.volume), share: percent(row.on_time_share) })}`),
          ),
        );
      });
      chart.append(bars);
      chart.append(svg("line", { class: "goal", x1: margin.left, x2: width - margin.right, y1: share(page.on_time_goal), y2: share(page.on_time_goal) }));
      const points = rows.map((row, i) => (row.on_time_share === null ? null : [x(i) + band / 2, share(row.on_time_share)]));
      chart.append(svg("path", { class: "line line--on-time", d: linePath(points) }));
      const dots = svg("g", { class: "dots dots--on-time" });
      for (const point of points) if (point) dots.append(svg("circle", { cx: point[0], cy: point[1], r: 2.75 }));
      chart.append(dots);
      chart.append(svg("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: margin.top + plotHeight, y2: margin.top + plotHeight }));
      xAxis(chart, rows, interval, x, band, margin.top + plotHeight, plotWidth);
      drawing.replaceChildren(chart);
      figure.querySelector("[data-table]").replaceChildren(
        hiddenTable(
          t("dashboard.chart.volume"),
          [columnName, t("dashboard.col.messages"), t("dashboard.col.on_time")],
          rows.map((row) => [bucketLabel(row.day, interval, true), count(row.volume), percent(row.on_time_share)]),
        ),
      );
    }

    // The median first response, in the chosen clock.
    {
      const figure = document.getElementById("chart-median");
      const key = seriesMedianKey(state.clock);
      const clockName = t(`dashboard.clock.${state.clock}`);
      setText(figure.querySelector("[data-title]"), t("dashboard.chart.median", { clock: clockName }));
      const { drawing, width } = drawingOf(figure);
      const height = 230;
      const margin = { left: 56, right: 20, top: 12, bottom: 26 };
      const plotWidth = width - margin.left - margin.right;
      const plotHeight = height - margin.top - margin.bottom;
      const band = plotWidth / rows.length;
      const x = (i) => margin.left + i * band;
      const values = rows.map((row) => (row[key] === null || row[key] === undefined ? null : row[key]));
      const scale = niceMinutesMax(Math.max(...values.filter((v) => v !== null), 1));
      const y = (value) => margin.top + plotHeight - (value / scale.max) * plotHeight;
      const chart = canvas(width, height);
      const grid = svg("g", { class: "grid" });
      for (let tick = 0; tick <= scale.max; tick += scale.step) {
        grid.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick) }));
        chart.append(svg("text", { x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end", class: "axis-label" }, minutes(tick)));
      }
      chart.append(grid);
      const points = values.map((value, i) => (value === null ? null : [x(i) + band / 2, y(value)]));
      chart.append(svg("path", { class: "line line--median", d: linePath(points) }));
      const dots = svg("g", { class: "dots dots--median" });
      points.forEach((point, i) => {
        if (point) dots.append(svg("circle", { cx: point[0], cy: point[1], r: 3 }, svg("title", {}, `${bucketLabel(rows[i].day, interval, true)}: ${minutes(values[i])}`)));
      });
      chart.append(dots);
      chart.append(svg("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: margin.top + plotHeight, y2: margin.top + plotHeight }));
      xAxis(chart, rows, interval, x, band, margin.top + plotHeight, plotWidth);
      drawing.replaceChildren(chart);
      figure.querySelector("[data-table]").replaceChildren(
        hiddenTable(
          t("dashboard.chart.median", { clock: clockName }),
          [columnName, t("dashboard.col.median")],
          rows.map((row, i) => [bucketLabel(row.day, interval, true), minutes(values[i])]),
        ),
      );
    }
  }

  // When citizens write, with the team's closed hours hatched.
  function openHours(department) {
    const open = WEEKDAYS.map(() => Array(24).fill(false));
    if (!department) return open;
    WEEKDAYS.forEach((weekday, row) => {
      for (const [start, end] of department.opening_hours[weekday] || []) {
        const [from, to] = [start, end].map((text) => {
          const [hours, mins] = text.split(":").map(Number);
          return hours * 60 + mins;
        });
        for (let hour = 0; hour < 24; hour += 1) if (from < (hour + 1) * 60 && to > hour * 60) open[row][hour] = true;
      }
    });
    return open;
  }

  const HEAT = ["#e3edf9", "#b4cdeb", "#7ba6da", "#3f74bb", "#1a4f92"];

  function drawHeatmap(grid, state) {
    const figure = document.getElementById("chart-heatmap");
    const slug = state.department || (page.departments.includes(DEFAULT_TEAM) ? DEFAULT_TEAM : page.departments[0]);
    const team = (departments || []).find((d) => d.slug === slug);
    const teamName = team ? team.name : slug;
    const open = openHours(team);
    const weekdays = t("dates.weekdays").split(" ");
    const max = Math.max(1, ...grid.flat());
    let total = 0;
    let closed = 0;
    grid.forEach((hours, row) =>
      hours.forEach((value, hour) => {
        total += value;
        if (!open[row][hour]) closed += value;
      }),
    );
    setText(figure.querySelector("[data-caption]"), t("dashboard.heatmap_caption", { team: teamName }));
    setText(
      figure.querySelector("[data-insight]"),
      total ? t("dashboard.heatmap_closed_share", { share: percent(closed / total), team: teamName }) : t("dashboard.no_messages"),
    );
    setText(figure.querySelector("[data-closed-key]"), t("dashboard.legend.closed", { team: teamName }));

    const { drawing, width } = drawingOf(figure);
    const left = 30;
    const top = 18;
    const cell = Math.min(40, (width - left - 2) / 24);
    const cellHeight = Math.max(20, Math.min(28, cell * 0.95));
    const height = top + 7 * cellHeight + 2;
    const chart = canvas(Math.ceil(left + 24 * cell + 2), Math.ceil(height));
    chart.append(
      svg(
        "defs",
        {},
        svg(
          "pattern",
          { id: "closed-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
          svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch" }),
        ),
      ),
    );
    for (let hour = 0; hour < 24; hour += 1) {
      if (cell < 22 && hour % 2) continue;
      chart.append(svg("text", { x: left + hour * cell + cell / 2, y: top - 5, "text-anchor": "middle", class: "axis-label axis-label--small" }, String(hour)));
    }
    grid.forEach((hours, row) => {
      const y = top + row * cellHeight;
      chart.append(svg("text", { x: left - 6, y: y + cellHeight / 2 + 4, "text-anchor": "end", class: "axis-label" }, weekdays[row]));
      hours.forEach((value, hour) => {
        const x = left + hour * cell;
        const level = value === 0 ? -1 : Math.min(HEAT.length - 1, Math.floor((value / max) * HEAT.length - 1e-9));
        const tip = `${weekdays[row]} ${hour}:00–${hour + 1}:00: ${count(value)}${open[row][hour] ? "" : ` (${t("dashboard.closed")})`}`;
        chart.append(
          svg("rect", { x: x + 1, y: y + 1, width: cell - 2, height: cellHeight - 2, rx: 2, class: value === 0 ? "heat heat--zero" : "heat", fill: value === 0 ? null : HEAT[level] }, svg("title", {}, tip)),
        );
        if (!open[row][hour]) chart.append(svg("rect", { x: x + 1, y: y + 1, width: cell - 2, height: cellHeight - 2, rx: 2, class: "heat-closed" }));
        if (value > 0 && cell >= 18) {
          chart.append(svg("text", { x: x + cell / 2, y: y + cellHeight / 2 + 4, "text-anchor": "middle", class: `heat-count${level >= 3 ? " heat-count--light" : ""}` }, String(value)));
        }
      });
    });
    drawing.replaceChildren(chart);
    const hoursHead = Array.from({ length: 24 }, (_, hour) => `${hour}:00`);
    figure.querySelector("[data-table]").replaceChildren(
      hiddenTable(
        `${t("dashboard.heatmap")} ${t("dashboard.heatmap_caption", { team: teamName })}`,
        [t("dashboard.col.weekday"), ...hoursHead],
        grid.map((hours, row) => [weekdays[row], ...hours.map((value, hour) => (open[row][hour] ? count(value) : `${count(value)} (${t("dashboard.closed")})`))]),
      ),
    );
  }

  // Volume, on-time share and median first response per category or channel: a table with bars.
  function drawSplit(container, group, values, figures, state) {
    const clock = state.clock;
    const max = Math.max(1, ...figures.map((f) => f.volume));
    const rows = values.map((value, i) => {
      const f = figures[i];
      const bar = el("span", { className: "bar", "aria-hidden": "true" }, el("span", { className: "bar__fill" }));
      bar.firstChild.style.width = `${(100 * f.volume) / max}%`;
      const below = f.on_time_share !== null && f.on_time_share < page.on_time_goal;
      const share = el(
        "td",
        { className: `num${below ? " is-below" : ""}` },
        below ? slaIcon("at_risk") : null,
        percent(f.on_time_share),
        below ? el("span", { className: "visually-hidden" }, ` (${t("dashboard.goal_missed")})`) : null,
      );
      const chosen = state[group] === value;
      return el(
        "tr",
        { className: chosen ? "is-selected" : "", "data-value": value },
        el("th", { scope: "row" }, label(group, value)),
        el("td", { className: "num cell-volume" }, el("span", { className: "cell-volume__n" }, count(f.volume)), bar),
        share,
        el("td", { className: "num" }, minutes(f[medianKey(clock)])),
      );
    });
    container.replaceChildren(
      el(
        "table",
        { className: "split-table" },
        el("caption", {}, t(group === "category" ? "dashboard.by_category" : "dashboard.by_channel")),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { scope: "col" }, t(group === "category" ? "dashboard.category" : "dashboard.channel")),
            el("th", { scope: "col" }, t("dashboard.col.messages")),
            el("th", { scope: "col", className: "num" }, t("dashboard.col.on_time")),
            el(
              "th",
              { scope: "col", className: "num" },
              t("dashboard.col.median_short"),
              el("span", { className: "visually-hidden" }, t("dashboard.col.median_more", { clock: t(`dashboard.clock.${clock}`) })),
            ),
          ),
        ),
        el("tbody", {}, ...rows),
      ),
    );
  }

  // Events ----------------------------------------------------------------------------------------------

  function showCustom(show) {
    for (const field of form.querySelectorAll("[data-custom]")) field.hidden = !show;
  }

  controls.period.addEventListener("change", () => {
    const custom = controls.period.value === "custom";
    if (custom && !controls.from.value && !controls.to.value) {
      const days = periodDays({ ...readState(), period: "7d" });
      controls.from.value = days.first;
      controls.to.value = days.last;
    }
    showCustom(custom);
    announceNext = true;
    refresh();
  });

  for (const name of ["department", "category", "channel", "from", "to"]) {
    controls[name].addEventListener("change", () => {
      announceNext = true;
      refresh();
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    announceNext = true;
    refresh();
  });

  // The clock needs no new figures: the summary carries both.
  for (const radio of document.querySelectorAll('input[name="clock-choice"]')) {
    radio.addEventListener("change", () => {
      controls.clock.value = radio.value;
      reflectInUrl(readState());
      draw();
      if (last) announce(spoken({ ...last, state: readState() }));
    });
  }

  for (const radio of document.querySelectorAll('input[name="trend-choice"]')) {
    radio.addEventListener("change", () => {
      controls.trend.value = radio.value;
      refresh();
    });
  }

  // Quiet while the tab is hidden; catch up at once when it shows again.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) window.clearTimeout(timer);
    else refresh();
  });

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(draw, 150);
  });

  document.getElementById("dash-apply").hidden = true; // changes apply at once
  refresh();
})();
