"""The agent's pages in a real browser: work the queue, claim without collisions, switch language."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def seed_kcc_queue(site) -> dict[str, dict]:
    """Five KCC tickets whose deadline order holds at any hour (24/7 urgent ones first, then business time)."""
    return {
        # Urgent safety reports run on a 30-minute 24/7 clock.
        "breached": site.post_message("u1", "Boom ligt over de weg bij de school", minutes_ago=40),
        "at_risk": site.post_message("u2", "Lantaarnpaal kapot en hangt over de weg", minutes_ago=25, author="Els Bos"),
        "running": site.post_message("u3", "Grote tak van een boom over de weg", minutes_ago=5, author="Mo Amrani"),
        # Business-time targets: a report (120 min) before a service question (240 min).
        "report": site.post_message("r1", "Stoeptegel kapot voor de bakker", minutes_ago=5, author="Sara de Wit"),
        "question": site.post_message(
            "q1", "Hoe vraag ik een nieuw paspoort aan?\nIk ga over twee weken op reis.", minutes_ago=2, author="Piet"
        ),
    }


def amsterdam(iso: str) -> str:
    """How the pages write a moment: "ma 23 nov 12:30", in Amsterdam time."""
    local = datetime.fromisoformat(iso).astimezone(ZoneInfo("Europe/Amsterdam"))
    weekday = "ma di wo do vr za zo".split()[local.weekday()]
    month = "jan feb mrt apr mei jun jul aug sep okt nov dec".split()[local.month - 1]
    return f"{weekday} {local.day} {month} {local:%H:%M}"


def fits_the_screen(page) -> bool:
    """No horizontal scrolling on the 1366×768 laptop."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def row_ids(page) -> list[int]:
    return [int(i) for i in page.locator("#queue-rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")]


def test_an_agent_works_the_most_urgent_ticket_and_the_queue_follows_live(site, new_page, artifacts):
    site.add_agent("anna", "kcc", full_name="Anna de Vries")
    tickets = seed_kcc_queue(site)
    site.post_message("c1", "Leuke actie van de gemeente!", minutes_ago=1)  # Communicatie: not in this queue
    in_order = [tickets[k]["id"] for k in ("breached", "at_risk", "running", "report", "question")]

    page = new_page()
    log_in(page, site.url, "anna")
    rows = page.locator("#queue-rows tr")
    expect(rows).to_have_count(5)
    assert row_ids(page) == in_order
    first = rows.first
    expect(first.locator(".sla--breached")).to_contain_text(re.compile(r"^\d+ min te laat$"))
    expect(first).to_contain_text("Te laat")
    expect(rows.nth(1).locator(".sla--at_risk")).to_contain_text(re.compile(r"^nog \d+ min$"))
    expect(rows.nth(2).locator(".sla--running")).to_contain_text("nog")
    expect(first).to_contain_text("Melding openbare ruimte")
    expect(first).to_contain_text("urgent")
    expect(rows.nth(4)).to_contain_text("Hoe vraag ik een nieuw paspoort aan?")
    expect(rows.nth(4)).not_to_contain_text("Ik ga over twee weken")  # the first line only
    expect(page.locator("#queue-count")).to_have_text("5 open tickets")
    expect(page.locator(".preview.is-loading")).to_have_count(0)
    assert fits_the_screen(page)
    page.screenshot(path=artifacts / "queue.png", full_page=True)

    # A second tab on the queue, to watch it follow along without being reloaded.
    watcher = page.context.new_page()
    watcher.goto(site.url + "/queue")
    expect(watcher.locator("#queue-rows tr")).to_have_count(5)
    watcher.evaluate("window.notReloaded = true")

    page.get_by_role("button", name="Volgende pakken").click()
    expect(page).to_have_url(f"{site.url}/tickets/{tickets['breached']['id']}")
    expect(page.locator("#holder")).to_have_text("Jij behandelt dit ticket.")
    expect(page.locator("#details")).to_contain_text("90%")
    expect(page.locator("#messages")).to_contain_text("Boom ligt over de weg bij de school")
    # The browser runs in New York time; the page still speaks Amsterdam time.
    expect(page.locator("#messages time").first).to_have_text(amsterdam(tickets["breached"]["opened_at"]))

    page.get_by_label("Sjabloon").select_option(label="Melding doorgezet")
    reply = page.get_by_label("Antwoord aan Jan Burger")
    expect(reply).to_have_value(re.compile(r"^Hoi Jan Burger, dank je wel voor je melding!"))
    page.get_by_role("button", name="Versturen").click()
    expect(page.locator("#notice")).to_contain_text("Antwoord verstuurd.")
    mine = page.locator(".message--outbound").filter(has_text="Anna de Vries")
    expect(mine).to_contain_text("Hoi Jan Burger, dank je wel voor je melding!")
    expect(page.locator("#timeline")).to_contain_text("Antwoord verstuurd met sjabloon “Melding doorgezet”")
    expect(reply).to_have_value("")
    assert fits_the_screen(page)
    page.get_by_role("button", name="Melding sluiten").click()
    expect(page.locator("#notice")).to_be_hidden()
    page.screenshot(path=artifacts / "ticket.png", full_page=True)

    page.get_by_label("Uitkomst").select_option(label="beantwoord")
    page.get_by_role("button", name="Afhandelen").click()
    expect(page.locator("#notice")).to_contain_text("Ticket afgehandeld.")
    expect(page.locator("#ticket-badges")).to_contain_text("afgehandeld")
    expect(page.get_by_role("button", name="Heropenen")).to_be_visible()

    # The other tab drops the ticket on its next poll, without a reload.
    expect(watcher.locator("#queue-rows tr")).to_have_count(4, timeout=8_000)
    assert row_ids(watcher) == in_order[1:]
    expect(watcher.locator("#queue-count")).to_have_text("4 open tickets")
    assert watcher.evaluate("window.notReloaded") is True


def test_two_agents_claiming_at_the_same_moment_never_get_the_same_ticket(site, new_page):
    site.add_agent("anna", "kcc")
    site.add_agent("bram", "kcc")
    tickets = seed_kcc_queue(site)
    anna, bram = new_page(), new_page()
    log_in(anna, site.url, "anna")
    log_in(bram, site.url, "bram")

    claimed = []
    for _round in range(2):
        for page in (anna, bram):
            expect(page.locator("#queue-rows tr").first).to_be_visible()
        # Both requests leave before either answer comes back: one by button, one by the `n` shortcut.
        anna.evaluate("document.getElementById('claim-next').click()")
        bram.keyboard.press("n")
        for page in (anna, bram):
            expect(page).to_have_url(re.compile(r"/tickets/\d+$"))
            claimed.append(int(page.url.rsplit("/", 1)[1]))
            page.goto(site.url + "/queue")

    assert len(set(claimed)) == 4, claimed
    assert set(claimed) == {tickets[k]["id"] for k in ("breached", "at_risk", "running", "report")}
    holders = {t["id"]: t["assignee"] for t in site.get("/queue/kcc")["data"]}
    assert sorted(holders[i] for i in claimed) == ["anna", "anna", "bram", "bram"]

    # One ticket is left: Anna gets it, Bram hears there is nothing to do.
    anna.get_by_role("button", name="Volgende pakken").click()
    expect(anna).to_have_url(f"{site.url}/tickets/{tickets['question']['id']}")
    bram.get_by_role("button", name="Volgende pakken").click()
    expect(bram.locator("#queue-notice")).to_have_text("Niets te doen: er wacht geen ticket meer in deze wachtrij.")
    expect(bram).to_have_url(f"{site.url}/queue")


def test_the_language_switch_turns_the_pages_english_and_back(site, new_page, artifacts):
    site.add_agent("anna", "kcc", full_name="Anna de Vries")
    tickets = seed_kcc_queue(site)
    page = new_page()
    log_in(page, site.url, "anna")
    expect(page.locator("html")).to_have_attribute("lang", "nl")

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Queue Klantcontactcentrum (KCC)")
    expect(page.get_by_role("button", name="Claim next")).to_be_visible()
    rows = page.locator("#queue-rows tr")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text(re.compile(r"\d+ min overdue"))
    expect(rows.nth(2)).to_contain_text(re.compile(r"left"))
    expect(rows.first).to_contain_text("Public space report")
    expect(page.locator("#queue-count")).to_have_text("5 open tickets")
    expect(page.locator(".preview.is-loading")).to_have_count(0)
    page.screenshot(path=artifacts / "queue-en.png", full_page=True)

    # The choice is remembered on the next page.
    page.goto(f"{site.url}/tickets/{tickets['question']['id']}")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Conversation")).to_be_visible()
    expect(page.locator("#details")).to_contain_text("Service question")
    expect(page.get_by_role("button", name="Resolve")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Message received via X")
    page.screenshot(path=artifacts / "ticket-en.png", full_page=True)

    page.get_by_role("link", name="Nederlands").click()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("heading", name="Gesprek")).to_be_visible()
    expect(page.locator("#details")).to_contain_text("Vraag over dienstverlening")


def test_keyboard_presence_and_a_colleagues_change_are_all_handled_plainly(site, new_page):
    site.add_agent("anna", "kcc")
    site.add_agent("bram", "kcc")
    tickets = seed_kcc_queue(site)
    ticket_url = f"{site.url}/tickets/{tickets['at_risk']['id']}"
    anna = new_page()
    log_in(anna, site.url, "anna")
    expect(anna.locator("#queue-rows tr")).to_have_count(5)

    anna.keyboard.press("j")
    anna.keyboard.press("j")
    expect(anna.locator("#queue-rows tr").nth(1).locator("a")).to_be_focused()
    anna.keyboard.press("Enter")
    expect(anna).to_have_url(ticket_url)
    reply = anna.get_by_label("Antwoord aan Els Bos")
    reply.fill("We kijken ernaar.")

    bram = new_page()
    log_in(bram, site.url, "bram", start=f"/tickets/{tickets['at_risk']['id']}")
    expect(bram.locator("#viewers")).to_have_text("Ook open bij: anna")
    bram.get_by_role("button", name="Oppakken").click()
    expect(bram.locator("#holder")).to_have_text("Jij behandelt dit ticket.")

    # Anna's page still shows the ticket as free: her claim is refused, she is told who has it, and sees it.
    anna.get_by_role("button", name="Oppakken").click()
    expect(anna.locator("#notice")).to_contain_text("bram behandelt dit ticket al.")
    expect(anna.locator("#holder")).to_have_text("bram behandelt dit ticket.")
    expect(anna.get_by_role("button", name="Oppakken")).to_be_hidden()
    expect(reply).to_have_value("We kijken ernaar.")
    anna.get_by_role("button", name="Versturen").click()
    expect(anna.locator("#notice")).to_contain_text("bram behandelt dit ticket al.")
    expect(anna.locator(".message--outbound").filter(has_text="We kijken ernaar.")).to_have_count(0)

    # A category correction sends the ticket to Communicatie, out of Bram's sight.
    bram.get_by_label("Juiste categorie").select_option(label="Communicatie")
    bram.get_by_role("button", name="Categorie wijzigen").click()
    expect(bram.locator("#notice")).to_contain_text("Categorie gewijzigd in: Communicatie.")
    expect(bram.locator("#loading")).to_contain_text("hoort nu bij een afdeling waarvoor je niet werkt")
    moved = site.get(f"/tickets/{tickets['at_risk']['id']}")
    assert (moved["category"], moved["department"]) == ("communication", "communicatie")
