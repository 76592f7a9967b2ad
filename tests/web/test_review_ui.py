"""The review UI in a real browser (Debian's Chromium through Playwright).

- a platform's moderator logs in, filters the queue, opens an item with the keyboard, reveals
  its preview (blurred and greyscale before, clear after, blurred again on the next item and
  on coming back), decides with a reason by shortcut, and escalates two items in bulk;
- the preview is loaded by the browser from the platform's own server (a local one serving a
  generated PNG), never through the service;
- the "remove" decision made in the UI reaches the platform's takedown webhook (a local
  receiver), signed with the platform's secret;
- one platform's moderator cannot see nor decide another platform's item, by URL or by a
  hand-made form post;
- the suspension rule through two platforms' moderators, and the hotline reinstating the hash.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from service.auth import moderators
from service.db.engine import transaction
from service.db.models import BankHash, MatchEvent, ReviewDecision

from service.webhooks import signing

from ..service.helpers import catch_up, create_platform, eventually, flip_bits, image_item, pdq_query, random_pdq
from ..service.webhook_receiver import Receiver

PASSWORD = "review ui test password"
BLURRED = "blur(24px) grayscale(1)"


class PreviewServer:
    """The platform's own image server: a small generated PNG for any path; remembers the paths asked."""

    def __init__(self) -> None:
        buffer = io.BytesIO()
        Image.new("RGB", (96, 64), (180, 40, 40)).save(buffer, format="PNG")
        png, self.paths, self.agents = buffer.getvalue(), [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                outer.paths.append(self.path)
                outer.agents.append(self.headers.get("User-Agent", ""))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "PreviewServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def previews():
    with PreviewServer() as server:
        yield server


@pytest.fixture
def receiver(live_server):
    """The platform's takedown endpoint, on this machine (the service refuses private targets unless allowed)."""
    settings = live_server.app.state.settings
    allowed, settings.webhook_allow_private_targets = settings.webhook_allow_private_targets, True
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()
        settings.webhook_allow_private_targets = allowed


class World:
    """Two platforms with a moderator each, and hotline staff, on the live server (unique names per test)."""

    def __init__(self, server) -> None:
        self.server, self.app = server, server.app
        tag = uuid.uuid4().hex[:8]
        self.alpha, self.beta = f"alpha-{tag}", f"beta-{tag}"
        self.keys = {p: create_platform(self.app, p, ("match", "review")) for p in (self.alpha, self.beta)}
        self.ann, self.bea, self.hot = f"ann-{tag}", f"bea-{tag}", f"hot-{tag}"
        with transaction(self.app.state.sessions) as session:
            settings = self.app.state.settings
            moderators.create(session, settings, self.ann, PASSWORD, platform=self.alpha)
            moderators.create(session, settings, self.bea, PASSWORD, platform=self.beta)
            moderators.create(session, settings, self.hot, PASSWORD)
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def bank(self) -> tuple[str, int]:
        code = random_pdq()
        response = self.http.post("/v1/cases", json={"items": [image_item(code)]})
        assert response.status_code == 201, response.text
        catch_up(self.app)
        with self.app.state.sessions() as session:
            return code, session.scalar(select(BankHash.id).order_by(BankHash.id.desc()).limit(1))

    def upload(self, platform: str, code: str, ref: str, distance: int = 0, preview_url: str | None = None) -> int:
        query = dict(pdq_query(flip_bits(code, distance)), content_ref=ref)  # a busy photo's hash
        if preview_url:
            query["preview_url"] = preview_url
        response = self.http.post("/v1/match", json={"queries": [query], "review_band": "sync"},
                                  headers={"Authorization": f"Bearer {self.keys[platform]}"})
        assert response.status_code == 200 and response.json()["results"][0]["matches"], response.text
        with self.app.state.sessions() as session:
            return session.scalar(select(MatchEvent.id).where(MatchEvent.content_ref == ref))

    def event(self, event_id: int) -> MatchEvent:
        with self.app.state.sessions() as session:
            return session.get(MatchEvent, event_id)

    def login(self, browser, name: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda m: page.errors.append(m.text)
                if m.type == "error" and "Failed to load" not in m.text else None)
        page.goto(self.server.url + "/review/login")
        page.fill("#name", name)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("#login")
        assert "/review/login" not in page.url, page.locator("main").inner_text()
        return context, page


def _filter(page) -> str:
    return page.locator(".preview img").evaluate("img => getComputedStyle(img).filter")


def _refs(page) -> list[str]:
    return page.locator("#queue a.open").all_inner_texts()


def test_moderator_filters_reveals_decides_and_bulk_escalates(browser, live_server, previews, receiver, artifacts):
    from playwright.sync_api import expect

    world = World(live_server)
    hook = world.http.put("/v1/platform/webhook", json={"url": receiver.url},
                          headers={"Authorization": f"Bearer {world.keys[world.alpha]}"})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    code, _ = world.bank()
    near = world.upload(world.alpha, code, "a/near", 0, f"{previews.url}/near.png")
    mid = world.upload(world.alpha, code, "a/mid", 8, f"{previews.url}/mid.png")
    far = world.upload(world.alpha, code, "a/far", 40, f"{previews.url}/far.png")
    theirs = world.upload(world.beta, code, "b/secret", 0, f"{previews.url}/secret.png")

    context, page = world.login(browser, world.ann)
    try:
        assert page.url.endswith("/review/")
        assert _refs(page) == ["a/near", "a/mid", "a/far"]  # beta's item is not there
        page.fill("#f-max", "10")
        page.click("#apply-filters")
        page.wait_for_url("**max_distance=10**")
        assert _refs(page) == ["a/near", "a/mid"]

        # Keyboard: j highlights the first row, Enter opens it.
        page.keyboard.press("j")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.locator("#content-ref")).to_have_text("a/near")
        img = page.locator(".preview img")
        img.evaluate("img => img.decode()")  # loaded, by the browser, from the platform's server
        assert img.evaluate("img => img.naturalWidth") == 96 and "/near.png" in previews.paths
        assert _filter(page) == BLURRED
        page.screenshot(path=str(artifacts / "review-item-blurred.png"), full_page=True)
        page.keyboard.press("v")
        assert _filter(page) == "none"
        with page.expect_navigation():
            page.keyboard.press("j")  # the next item in the filtered queue
        expect(page.locator("#content-ref")).to_have_text("a/mid")
        assert _filter(page) == BLURRED
        with page.expect_navigation():
            page.keyboard.press("k")
        expect(page.locator("#content-ref")).to_have_text("a/near")
        assert _filter(page) == BLURRED  # coming back shows it blurred again
        page.click(".reveal")
        assert _filter(page) == "none"

        # Decide by shortcut: r chooses "remove" and puts the cursor in the reason; Enter records it.
        page.keyboard.press("r")
        expect(page.locator("#reason")).to_be_focused()
        assert page.locator("#d-remove").is_checked()
        page.keyboard.type("matches the reported photo")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.locator("#content-ref")).to_have_text("a/mid")  # straight on to the next item
        assert _filter(page) == BLURRED
        assert world.event(near).review_status == "removed"
        with world.app.state.sessions() as session:
            decision = session.scalar(select(ReviewDecision).where(ReviewDecision.match_event_id == near))
            ann_id = moderators.by_name(session, world.ann).id
        assert (decision.decision, decision.reason, decision.decided_by) == (
            "ncii_remove", "matches the reported photo", f"moderator:{ann_id}")
        # The removal reaches alpha's takedown endpoint, signed with alpha's secret; the reason stays here.
        assert eventually(lambda: receiver.count() >= 1, within=30), "no webhook delivery"
        headers, body = receiver.requests[0]
        assert signing.verify(secret, headers, body) and not signing.verify(secret + "x", headers, body)
        payload = json.loads(body)
        assert (payload["match_event_id"], payload["content_ref"]) == (near, "a/near")
        assert "matches the reported photo" not in body.decode()

        # Bulk: tick the two remaining items with x, escalate them with one reason.
        page.goto(world.server.url + "/review/")
        assert _refs(page) == ["a/mid", "a/far"]
        for _ in range(2):
            page.keyboard.press("j")
            page.keyboard.press("x")
        assert page.locator("input[name=items]:checked").count() == 2
        page.screenshot(path=str(artifacts / "review-queue.png"), full_page=True)
        assert page.locator("#bulk input[value=ncii_remove]").count() == 0  # no bulk removal
        page.check("#bulk input[value=escalate]")
        page.fill("#bulk-reason", "needs a second look")
        with page.expect_navigation():
            page.click("#bulk-submit")
        expect(page.locator("#bulk-result")).to_contain_text("2 item decision(s) recorded")
        assert world.event(mid).review_status == world.event(far).review_status == "escalated"
        expect(page.locator("#empty")).to_be_visible()

        # Another platform's item: not in any listing, not readable, not decidable, however asked.
        page.goto(world.server.url + "/review/?status=all&platform=1")
        assert "b/secret" not in page.content()
        response = page.goto(f"{world.server.url}/review/items/{theirs}")
        assert response.status == 404 and "b/secret" not in page.content()
        page.goto(f"{world.server.url}/review/items/{mid}")
        token = page.locator("#decide input[name=csrf_token]").input_value()
        status = page.evaluate(
            """([url, token]) => fetch(url, {method: "POST", body: new URLSearchParams(
                   {csrf_token: token, decision: "ncii_remove", reason: "tampered"})}).then(r => r.status)""",
            [f"/review/items/{theirs}/decide", token],
        )
        assert status == 404 and world.event(theirs).review_status == "pending"
        assert "/secret.png" not in previews.paths
        # Every preview request came from the browser: the service never fetched one.
        assert previews.agents and all("Chrome" in agent for agent in previews.agents), previews.agents
        assert not page.errors, page.errors
    finally:
        context.close()


def test_two_platforms_suspend_a_hash_and_the_hotline_reinstates_it(browser, live_server):
    from playwright.sync_api import expect

    world = World(live_server)
    code, hash_id = world.bank()
    events = {world.ann: world.upload(world.alpha, code, "a/holiday"), world.bea: world.upload(world.beta, code, "b/holiday")}

    for name, event in events.items():
        context, page = world.login(browser, name)
        try:
            page.goto(f"{world.server.url}/review/items/{event}")
            expect(page.locator("#no-preview")).to_be_visible()
            page.keyboard.press("n")
            page.keyboard.type("an ordinary holiday photo")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert world.event(event).review_status == "not_ncii"
            assert not page.errors, page.errors
        finally:
            context.close()
    with world.app.state.sessions() as session:
        assert session.get(BankHash, hash_id).status == "suspended"

    context, page = world.login(browser, world.hot)
    try:
        assert page.url.endswith("/review/hotline")
        row = page.locator(f"tr[data-hash='{hash_id}']")
        expect(row).to_contain_text("2 not NCII (2 platforms)")
        row.locator("input[name=reason]").fill("the hotline checked it with the helper")
        with page.expect_navigation():
            row.locator("button.reinstate").click()
        expect(page.locator("#hotline-result")).to_contain_text(f"Hash {hash_id}: reinstated")
        expect(page.locator(f"tr[data-hash='{hash_id}']")).to_have_count(0)
        with world.app.state.sessions() as session:
            assert session.get(BankHash, hash_id).status == "active"
        assert not page.errors, page.errors
    finally:
        context.close()
