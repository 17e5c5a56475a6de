"""The managers' dashboard in a real browser: demo figures that match the reports API, filters in the URL."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from models import Role
from service import auth
from service.configuration import apply_config, read_config_file
from service.demo import seed_demo
from service.modelops import EVAL_DATA
from tests.browser.conftest import Site, log_in
from tests.conftest import KeywordClassifier, empty_tables, make_settings

pytestmark = pytest.mark.browser

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 18, 14, 32, tzinfo=AMS)  # a Wednesday afternoon, the demo fortnight behind it
WIDE = {"width": 1920, "height": 1080}


@pytest.fixture(scope="module")
def demo(live_server, browser_engine, browser_database_url) -> Iterator[Site]:
    """The demo fortnight up to NOW, loaded once for this module, with a manager and an agent to log in."""
    empty_tables(browser_engine)
    with Session(browser_engine) as session:
        apply_config(session, read_config_file())
        auth.create_user(session, "feed", role=Role.admin)
        token = auth.create_token(session, "feed")
        session.commit()
    seed_demo(
        browser_engine,
        make_settings(browser_database_url),
        KeywordClassifier(),
        texts_file=EVAL_DATA,
        now=NOW,
        per_day=25,
    )
    site = Site(live_server, browser_engine, token)
    site.add_agent("lotte", role=Role.manager, full_name="Lotte Smit")
    site.add_agent("piet", "kcc")
    yield site
    empty_tables(browser_engine)


# What the page should say, worked out here the way the page works it out ---------------------------


def rounded(value: float, places: int = 0) -> Decimal:
    """Half away from zero on the exact value, as JavaScript's Math.round and Intl.NumberFormat do."""
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def one_decimal(value: float, decimal_mark: str) -> str:
    text = str(rounded(value, 1))
    return text.removesuffix(".0").replace(".", decimal_mark)


def share_text(share: float | None, lang: str = "nl") -> str:
    if share is None:
        return "–"
    return f"{rounded(share * 100)} %" if lang == "nl" else f"{rounded(share * 100)}%"


def minutes_text(value: float | None, lang: str = "nl") -> str:
    if value is None:
        return "–"
    mark, hours = (",", "u") if lang == "nl" else (".", "h")
    if value < 59.5:
        return f"{rounded(value)} min"
    if value < 48 * 60:
        return f"{one_decimal(value / 60, mark)} {hours}"
    return f"{one_decimal(value / 1440, mark)} d"


def midnight(day) -> str:
    return datetime.combine(day, time(0), AMS).isoformat()


def period(days: int) -> dict[str, str]:
    """The last `days` days up to and including today (NOW), from Amsterdam midnight to Amsterdam midnight."""
    today = NOW.date()
    return {"from": midnight(today - timedelta(days=days - 1)), "to": midnight(today + timedelta(days=1))}


def in_utc(moment: str) -> str:
    """An instant as the page writes it in its API calls (JavaScript's toISOString)."""
    return datetime.fromisoformat(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def summary(site: Site, **filters) -> dict:
    return site.get(f"/reports/summary?{urlencode(filters)}")


def card(page, name: str):
    return page.locator(f"#kpi-{name} [data-value]")


def query_of(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def open_dashboard(new_page, site: Site, path: str = "/dashboard"):
    page = new_page()
    page.clock.install(time=NOW)  # the browser's today is the demo's today; its clock runs on from there
    log_in(page, site.url, "lotte", start=path)
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile(r"\d+"))
    return page


# The tests ---------------------------------------------------------------------------------------


def test_a_manager_sees_the_figures_of_the_reports_api_and_can_filter_and_share_them(demo, new_page, artifacts):
    week = summary(demo, **period(7))
    today = summary(demo, **period(1))
    assert week["volume"] > 50 and week["first_responses"] > 0  # the demo fortnight is there
    page = open_dashboard(new_page, demo)

    # Dutch by default, with the manager's own nav link.
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard reactietijden")
    expect(page.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    expect(page.get_by_label("Periode")).to_have_value("7d")
    expect(page.locator("#dash-range")).to_have_text("do 12 nov t/m wo 18 nov")
    expect(page.locator("#dash-updated")).to_have_text("Bijgewerkt om 14:32")

    # Now, at a glance: the same figures as the API, written the Dutch way, business minutes first.
    expect(card(page, "on-time")).to_have_text(share_text(week["on_time_share"]))
    expect(page.locator("#kpi-on-time [data-goal]")).to_contain_text("doel ≥ 90 %")
    expect(card(page, "median")).to_have_text(minutes_text(week["first_response_median_minutes"]))
    expect(card(page, "p90")).to_have_text(minutes_text(week["first_response_p90_minutes"]))
    expect(page.locator("#kpi-median")).to_contain_text("kantoortijd")
    expect(card(page, "volume")).to_have_text(str(week["volume"]))
    expect(card(page, "breaches-today")).to_have_text(str(today["breaches"]))
    for slug in ("kcc", "communicatie", "triage"):
        team = summary(demo, **period(7), department=slug)
        figures = page.locator(f'.team[data-team="{slug}"]')
        expect(figures.locator("[data-open]")).to_have_text(f"{team['backlog_total']} open")
        expect(figures.locator("[data-states]")).to_have_text(
            f"{team['backlog']['at_risk']} bijna te laat {team['backlog']['breached']} te laat"
        )

    # Trends: 30 days of bars, with the figures in a table for screen readers.
    expect(page.locator("#chart-volume svg .bars rect")).to_have_count(30)
    expect(page.locator("#chart-volume table tbody tr")).to_have_count(30)
    expect(page.locator("#chart-volume table tbody tr").last).to_contain_text("wo 18 nov")
    expect(page.locator("#chart-median svg path.line")).to_have_count(1)

    # When citizens write: 7 × 24 cells, KCC's closed hours hatched (5 × 12 on weekdays, 18 on Saturday, 24 on Sunday).
    heat = demo.get(f"/reports/heatmap?{urlencode(period(7))}")["data"]
    expect(page.locator("#chart-heatmap svg rect.heat")).to_have_count(7 * 24)
    expect(page.locator("#chart-heatmap svg rect.heat-closed")).to_have_count(5 * 12 + 18 + 24)
    closed = sum(heat[d][h] for d in range(7) for h in range(24) if not kcc_open(d, h))
    expect(page.locator("#chart-heatmap [data-insight]")).to_have_text(
        f"{share_text(closed / sum(map(sum, heat)))} van de berichten kwam binnen buiten de openingstijden "
        "van Klantcontactcentrum (KCC)."
    )
    expect(page.locator("#chart-heatmap table tbody tr")).to_have_count(7)

    # Split by category and by channel, with the API's figures.
    reports = summary(demo, **period(7), category="public_space_report")
    row = page.locator('#split-category tr[data-value="public_space_report"]')
    expect(row).to_contain_text("Melding openbare ruimte")
    expect(row.locator("td").nth(0)).to_have_text(str(reports["volume"]))
    expect(row.locator("td").nth(1)).to_contain_text(share_text(reports["on_time_share"]))
    expect(row.locator("td").nth(2)).to_have_text(minutes_text(reports["first_response_median_minutes"]))
    expect(page.locator("#split-channel tbody tr")).to_have_count(6)
    expect(page.locator('#split-channel tr[data-value="whatsapp"] th')).to_have_text("WhatsApp")

    page.screenshot(path=artifacts / "dashboard.png", full_page=True)
    assert fits_the_screen(page)

    # The clock: calendar minutes instead of business minutes, in the cards and in the URL.
    page.get_by_role("radio", name="kloktijd").check()
    expect(card(page, "median")).to_have_text(minutes_text(week["first_response_median_calendar_minutes"]))
    expect(card(page, "p90")).to_have_text(minutes_text(week["first_response_p90_calendar_minutes"]))
    expect(page.locator("#kpi-median")).to_contain_text("kloktijd")
    expect(page).to_have_url(re.compile(r"[?&]clock=calendar"))
    assert week["first_response_median_calendar_minutes"] != week["first_response_median_minutes"]

    # A filter from the keyboard: the URL follows, and so do the figures.
    page.get_by_label("Team").focus()
    page.keyboard.press("ArrowDown")  # Klantcontactcentrum (KCC)
    page.keyboard.press("ArrowDown")  # Communicatie
    expect(page).to_have_url(re.compile(r"[?&]department=communicatie"))
    page.get_by_label("Periode").select_option("30d")
    expect(page).to_have_url(re.compile(r"[?&]period=30d"))
    comms = summary(demo, **period(30), department="communicatie")
    assert comms["volume"] != week["volume"]
    expect(card(page, "volume")).to_have_text(str(comms["volume"]))
    expect(card(page, "on-time")).to_have_text(share_text(comms["on_time_share"]))
    expect(card(page, "median")).to_have_text(minutes_text(comms["first_response_median_calendar_minutes"]))
    expect(page.locator('.team[data-team="communicatie"]')).to_have_class(re.compile(r"\bis-selected\b"))
    expect(page.locator("#chart-heatmap [data-caption]")).to_contain_text("Communicatie is dan gesloten")
    assert query_of(page) == {"period": ["30d"], "department": ["communicatie"], "clock": ["calendar"]}

    # The CSV link carries the same filters, and downloads.
    csv_url = page.locator("#dash-csv").get_attribute("href")
    assert urlsplit(csv_url).path == "/api/v1/reports/tickets.csv"
    assert parse_qs(urlsplit(csv_url).query) == {
        "from": [in_utc(period(30)["from"])],
        "to": [in_utc(period(30)["to"])],
        "department": ["communicatie"],
    }
    download = page.request.get(demo.url + csv_url)
    assert download.status == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.text().count("\r\n") == comms["volume"] + 1

    # A shared link opens the same view.
    shared = open_dashboard(new_page, demo, f"/dashboard?{urlsplit(page.url).query}")
    expect(shared.get_by_label("Team")).to_have_value("communicatie")
    expect(shared.get_by_role("radio", name="kloktijd")).to_be_checked()
    expect(card(shared, "volume")).to_have_text(str(comms["volume"]))

    # English, through the language switch; the view stays the same.
    page.get_by_role("radio", name="kantoortijd").check()
    page.get_by_label("Team").select_option("")
    page.get_by_label("Periode").select_option("7d")
    expect(card(page, "median")).to_have_text(minutes_text(week["first_response_median_minutes"]))
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Response-time dashboard")
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile(r"\d+"))
    expect(card(page, "on-time")).to_have_text(share_text(week["on_time_share"], "en"))
    expect(card(page, "median")).to_have_text(minutes_text(week["first_response_median_minutes"], "en"))
    expect(card(page, "p90")).to_have_text(minutes_text(week["first_response_p90_minutes"], "en"))
    expect(page.locator("#kpi-median")).to_contain_text("business hours")
    expect(page.locator("#dash-range")).to_have_text("Thu 12 Nov to Wed 18 Nov")
    expect(page.locator('#split-category tr[data-value="public_space_report"] th')).to_have_text("Public space report")
    page.screenshot(path=artifacts / "dashboard-en.png", full_page=True)
    assert fits_the_screen(page)

    # A wide screen uses the room and still scrolls only downwards.
    page.set_viewport_size(WIDE)
    # The charts are drawn again for the new width (about 620 px each at 1366, 770 px at 1920).
    expect(page.locator("#chart-volume svg")).to_have_attribute("width", re.compile(r"^(7[2-9]\d|[89]\d\d)$"))
    assert fits_the_screen(page)
    page.screenshot(path=artifacts / "dashboard-wide.png")

    # It refreshes itself every 30 s, and rests while the tab is hidden.
    def citizen_writes(external_id: str) -> None:
        just_before_now = (datetime.now(UTC) - NOW).total_seconds() / 60 + 1
        demo.post_message(external_id, "Hoe vraag ik een nieuw paspoort aan?", minutes_ago=just_before_now)

    def tab_hidden(hidden: bool) -> None:
        page.evaluate(
            "hidden => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});"
            " document.dispatchEvent(new Event('visibilitychange')); }",
            hidden,
        )

    refreshes = int(page.locator("body").get_attribute("data-loaded"))
    tab_hidden(True)
    citizen_writes("late-1")
    page.clock.run_for(65_000)
    page.wait_for_timeout(300)
    assert int(page.locator("body").get_attribute("data-loaded")) == refreshes
    expect(card(page, "volume")).to_have_text(str(week["volume"]))
    tab_hidden(False)  # back on the tab: at once up to date
    expect(card(page, "volume")).to_have_text(str(week["volume"] + 1))
    citizen_writes("late-2")
    page.clock.run_for(30_000)
    expect(card(page, "volume")).to_have_text(str(week["volume"] + 2))
    expect(page.locator("#dash-updated")).to_have_text(re.compile(r"^Updated at 14:3\d$"))


def test_an_agent_gets_a_friendly_no_access_page(demo, new_page):
    page = new_page()
    log_in(page, demo.url, "piet", start="/dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("Geen toegang")
    expect(page.locator("main")).to_contain_text("Het dashboard is er voor teamleiders en functioneel beheerders.")
    expect(page.get_by_role("link", name="Naar de wachtrij")).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
    assert page.request.get(demo.url + "/dashboard").status == 403


def kcc_open(weekday: int, hour: int) -> bool:
    """KCC's default opening hours: weekdays 08:00–20:00, Saturday 10:00–16:00."""
    if weekday < 5:
        return 8 <= hour < 20
    return weekday == 5 and 10 <= hour < 16
