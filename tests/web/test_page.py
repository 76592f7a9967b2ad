"""The victim's pages in a real browser (Debian's Chromium through Playwright).

What the page promises, checked on what the browser actually does:
- the whole flow works: choose photos and videos (a real one, hashed frame by frame, and
  one the browser cannot decode, banked by its MD5), hashes made in the page's worker,
  the list of what will be sent, consent, submit, case number and PIN, the status page,
  withdrawal with confirmation; also when the network drops after the page loaded;
- no request the page makes carries a byte of a chosen file (every request body is
  searched for every 64-byte chunk of every file), none is multipart, and none leaves
  the page's origin;
- the hashes the worker sends are Python's: bit for bit when the browser decodes the same
  pixels (PNG), within a few bits for JPEGs decoded by the browser rather than Pillow;
- English, French and Dutch, chosen from the browser's language, with a working switch;
- screenshots of each page at 360 px and 1280 px wide in ``tests/web/artifacts/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from matcher import groups
from matcher.loading import load_rgb_array

from ..conftest import FIXTURES, REPO_ROOT

PDQ_FIXTURES = FIXTURES / "pdq"
REFERENCE_JPEGS = sorted(p for p in PDQ_FIXTURES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
WIDTHS = {"phone": 360, "desktop": 1280}
HASH_TIMEOUT_MS = 60_000
#: Every n-th photo of the shared photo set is hashed in the browser by the test;
#: NCII_BROWSER_PHOTO_STEP=1 measures them all (the figures in docs/browser-hashing.md).
PHOTO_STEP = int(os.environ.get("NCII_BROWSER_PHOTO_STEP", "24"))


# --- helpers -----------------------------------------------------------------------------


class Recorder:
    """Every request of a browser context (pages and workers), with its body."""

    def __init__(self, context) -> None:
        self.requests: list[dict] = []
        context.on("request", self._record)

    def _record(self, request) -> None:
        self.requests.append(
            {
                "method": request.method,
                "url": request.url,
                "headers": dict(request.headers),
                "body": request.post_data_buffer or b"",
            }
        )


def open_page(browser, server, path: str = "/", *, width: int = 1280, locale: str = "en-GB"):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    recorder = Recorder(context)
    page = context.new_page()
    # File choosers are intercepted from the start: enabling the interception only when a
    # test waits for a chooser races with the key press that opens it (2 in 25 runs lost).
    page.on("filechooser", lambda chooser: None)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Script errors only: the console also reports failed requests, which some tests cause.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load" not in m.text else None)
    page.goto(server.url + path)
    page.wait_for_load_state("networkidle")
    return context, page, recorder, errors


def wait_until_hashed(page, count: int) -> None:
    from playwright.sync_api import expect

    done = page.locator(".item:is([data-status=ready], [data-status=failed])")
    expect(done).to_have_count(count, timeout=max(HASH_TIMEOUT_MS, count * 500))


def submit(page) -> tuple[dict, dict]:
    """Tick consent, press send: (what was sent, what came back)."""
    page.check("#consent")
    with page.expect_response(lambda r: r.url.endswith("/v1/cases") and r.request.method == "POST") as info:
        page.click("#submit")
    response = info.value
    return json.loads(response.request.post_data_buffer), response.json()


def hash_in_browser(browser, server, paths: list[Path], batch: int = 250) -> list[dict | None]:
    """The item the page sends for each file (None where the page could not use it).

    Large sets go in batches (a case holds at most NCII_MAX_CASE_ITEMS items).
    """
    out: list[dict | None] = []
    for at in range(0, len(paths), batch):
        out += _hash_batch(browser, server, paths[at : at + batch])
    return out


def _hash_batch(browser, server, paths: list[Path]) -> list[dict | None]:
    context, page, _, errors = open_page(browser, server)
    try:
        started = time.monotonic()
        page.set_input_files("#files", [str(p) for p in paths])
        wait_until_hashed(page, len(paths))
        print(f"\n{len(paths)} files hashed in the page's worker in {time.monotonic() - started:.1f} s")
        statuses = page.locator(".item").evaluate_all("items => items.map(i => i.dataset.status)")
        sent, _ = submit(page)
        page.locator("#result").wait_for(state="visible")
    finally:
        context.close()
    assert not errors, errors
    items = iter(sent["items"])
    return [next(items) if status == "ready" else None for status in statuses]


def python_group(path: Path) -> dict[str, tuple[str, int, int]]:
    """Variant -> (hex, quality, structure) of Python's bank group."""
    return {h.variant: (h.hex, h.quality, h.structure) for h in groups.bank_group(load_rgb_array(path))}


def browser_group(item: dict) -> dict[str, tuple[str, int, int]]:
    """Variant -> (hex, quality, structure) as the page sent them."""
    return {h["variant"]: (h["hash"], h["quality"], h.get("structure")) for h in item["hashes"]}


def bits(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def compare(path: Path, item: dict | None) -> dict:
    """Distances between the browser's group and Python's for one image."""
    expected = python_group(path)
    if item is None:
        return {"file": path.name, "browser": None, "python_variants": len(expected)}
    got = browser_group(item)
    common = sorted(set(got) & set(expected))
    distances = {v: bits(got[v][0], expected[v][0]) for v in common}
    return {
        "file": path.name,
        "full": distances.get("full"),
        "max": max(distances.values()) if distances else None,
        "variants_only_browser": sorted(set(got) - set(expected)),
        "variants_only_python": sorted(set(expected) - set(got)),
        "quality_delta": max((abs(got[v][1] - expected[v][1]) for v in common), default=0),
        "structure_delta": max((abs(got[v][2] - expected[v][2]) for v in common), default=0),
    }


def fake_video(path: Path, size: int = 300_000) -> Path:
    """An MP4-looking file (ISO media 'ftyp' box, then noise): hashed as a file, never decoded."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    path.write_bytes(head + os.urandom(size - len(head)))
    return path


def assert_no_file_bytes_sent(recorder: Recorder, origin: str, files: list[Path]) -> None:
    chunks = []
    for f in files:
        data = f.read_bytes()
        chunks += [data[i : i + 64] for i in range(0, len(data) - 63, 64)]
    assert chunks
    for r in recorder.requests:
        url = urlsplit(r["url"])
        if url.scheme == "blob":  # the page's own object URLs (thumbnails): never on the network
            assert r["url"].startswith(f"blob:{origin}/"), r["url"]
        elif url.scheme != "data":
            assert f"{url.scheme}://{url.netloc}" == origin, f"request to another origin: {r['url']}"
        assert "multipart" not in r["headers"].get("content-type", ""), r["url"]
        body = r["body"]
        assert len(body) < 256 * 1024, f"an unexpectedly large body to {r['url']}"
        leaked = next((i for i, c in enumerate(chunks) if c in body), None)
        assert leaked is None, f"{r['method']} {r['url']} carries bytes of a chosen file"


def parse_sent_list(text: str) -> list[tuple[str, str]]:
    """The (signal, hash) pairs the page lists under 'Check what will be sent' (a video's frames as vpdq)."""
    return re.findall(r"^\s+(pdq|md5|vpdq) ([0-9a-f]+)", text, flags=re.M)


def sent_pairs(items: list[dict]) -> list[tuple[str, str]]:
    """The (signal, hash) pairs of what was POSTed, in the page's listing order."""
    pairs = [(h["signal"], h["hash"]) for i in items for h in [*i["hashes"], *({"signal": "vpdq", "hash": f["pdq"]} for f in i.get("vpdq", {}).get("frames", []))]]
    return pairs


def real_video(path: Path, seconds: float = 4) -> Path:
    """A small H.264 MP4 (a pan over a photo) the page decodes and hashes frame by frame."""
    from .. import synth_video as sv

    path.write_bytes(sv.scene(seconds, 30, (320, 240)))
    return path


# --- no browser needed -----------------------------------------------------------------


def test_pages_send_strict_security_headers(live_server) -> None:
    for path in ("/", "/status", "/static/js/hash-page.js", "/static/js/hash-worker.js", "/static/css/page.css", "/v1/strategy", "/v1/limits"):
        response = httpx.get(live_server.url + path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "unsafe" not in csp and "http" not in csp, csp
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "set-cookie" not in response.headers
        assert response.headers["cache-control"] in ("no-store", "no-cache"), path


def test_pages_load_nothing_from_elsewhere() -> None:
    web = REPO_ROOT / "service" / "web"
    for path in [*web.glob("templates/*.html"), *web.glob("static/**/*.js"), *web.glob("static/**/*.css")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path
        assert not re.search(r"""(import|fetch)\s*\(?\s*["'](https?:)?//""", text), path
        assert "<script>" not in text and " style=" not in text and "onclick" not in text, path


def test_support_lines_come_from_the_deployment(tmp_path, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from service.app import create_app

    from ..service.conftest import make_settings

    lines = {"lines": [{"number": "0800 32 123", "label": {"en": "Crisis line", "fr": "Ligne de crise"}}]}
    (tmp_path / "support.json").write_text(json.dumps(lines))
    monkeypatch.setenv("NCII_SUPPORT_FILE", str(tmp_path / "support.json"))
    with TestClient(create_app(make_settings(tmp_path))) as client:
        for path in ("/", "/status"):
            html = client.get(path).text
            assert 'href="tel:080032123"' in html and ">0800 32 123<" in html
            assert 'data-label-fr="Ligne de crise"' in html and 'data-label-nl="Crisis line"' in html  # falls back to en
            assert "116 000" not in html


def test_strategy_is_the_default_bank_strategy(live_server) -> None:
    import dataclasses

    body = httpx.get(live_server.url + "/v1/strategy").json()
    assert body == json.loads(json.dumps(dataclasses.asdict(groups.DEFAULT_STRATEGY)))


def test_every_string_exists_in_every_language() -> None:
    source = (REPO_ROOT / "service" / "web" / "static" / "js" / "i18n.js").read_text(encoding="utf-8")
    blocks = re.split(r"^  (en|fr|nl): \{$", source, flags=re.M)
    keys = {blocks[i]: set(re.findall(r"^    (\w+):", blocks[i + 1], flags=re.M)) for i in range(1, len(blocks), 2)}
    assert set(keys) == {"en", "fr", "nl"}
    assert keys["en"] == keys["fr"] == keys["nl"], {k: keys["en"] ^ v for k, v in keys.items()}
    templates = (REPO_ROOT / "service" / "web" / "templates").glob("*.html")
    used = {k for t in templates for k in re.findall(r'data-i18n="(\w+)"', t.read_text(encoding="utf-8"))}
    scripts = (REPO_ROOT / "service" / "web" / "static" / "js").glob("*-page.js")
    used |= {k for s in scripts for k in re.findall(r'\bt\("(\w+)"', s.read_text(encoding="utf-8"))}
    assert used - keys["en"] == set()


# --- in the browser --------------------------------------------------------------------


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_whole_flow_sends_only_hashes(browser, live_server, artifacts, tmp_path, device) -> None:
    from playwright.sync_api import expect

    width = WIDTHS[device]
    video = fake_video(tmp_path / "clip.mp4")
    movie = real_video(tmp_path / "movie.mp4")
    photos = [PDQ_FIXTURES / n for n in ("bridge-1-original.jpg", "q1050.jpg", "rgb.jpeg", "small.jpg")]
    chosen = [*photos, video, movie]
    context, page, recorder, errors = open_page(browser, live_server, width=width)
    try:
        if device == "phone":
            # The network drops after the page loaded: hashing still works, sending fails
            # with a clear message, and pressing send again once back online succeeds.
            context.set_offline(True)
        # Hashing runs in the page's Web Worker, off the main thread.
        assert [w.url for w in page.workers] == [f"{live_server.url}/static/js/hash-worker.js"]
        page.set_input_files("#files", [str(p) for p in chosen])
        wait_until_hashed(page, len(chosen))
        expect(page.locator(".item[data-status=failed]")).to_have_count(1)  # small.jpg: flat, quality 0
        expect(page.locator("#progress-text")).to_contain_text("6")
        for thumb in page.locator("img.thumb").all():  # lazy: bring each into view, let it decode
            thumb.scroll_into_view_if_needed()
            thumb.evaluate("img => img.decode()")
        page.click("#step-review summary")
        page.screenshot(path=str(artifacts / f"hash-page-chosen-{width}.png"), full_page=True)
        listed = parse_sent_list(page.inner_text("#sent-list"))
        assert page.is_disabled("#submit")  # not before consent
        if device == "phone":
            page.check("#consent")
            page.click("#submit")
            expect(page.locator("#submit-error")).to_be_visible()
            expect(page.locator("#submit-error")).to_contain_text("connection")
            expect(page.locator("#submit")).to_be_enabled()
            context.set_offline(False)
        sent, answer = submit(page)
        expect(page.locator("#result")).to_be_visible()
        expect(page.locator("#result")).to_be_focused()
        page.screenshot(path=str(artifacts / f"hash-page-result-{width}.png"), full_page=True)
        case_number, pin = page.inner_text("#case-number"), page.inner_text("#case-pin")
        assert (case_number, pin) == (answer["case_number"], answer["pin"])
        assert page.locator("img.thumb").count() == 0  # thumbnails gone once sent
        if device == "desktop":
            # Save as a file (made in the page) and copy.
            with page.expect_download() as download:
                page.click("#download")
            saved = Path(download.value.path()).read_text(encoding="utf-8")
            assert case_number in saved and pin in saved and "/status" in saved
            assert download.value.suggested_filename == f"case-{case_number}.txt"
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
            page.click("#copy-pin")
            expect(page.locator("#copy-status")).to_have_text("Copied.")
            assert page.evaluate("navigator.clipboard.readText()") == pin

        # What was sent: hashes only, exactly what the page listed, no file names.
        assert [i["kind"] for i in sent["items"]] == ["image", "image", "image", "file", "video"]
        assert all(set(i) == {"kind", "hashes"} for i in sent["items"][:4])
        assert set(sent["items"][4]) == {"kind", "hashes", "vpdq"}
        assert sent_pairs(sent["items"]) == listed
        assert sent["items"][3]["hashes"] == [{"signal": "md5", "hash": hashlib.md5(video.read_bytes()).hexdigest()}]
        assert sent["items"][4]["hashes"] == [{"signal": "md5", "hash": hashlib.md5(movie.read_bytes()).hexdigest()}]
        frames = sent["items"][4]["vpdq"]["frames"]
        assert [(f["frame"], f["time"]) for f in frames] == [(0, 0.0), (30, 1.0), (60, 2.0), (90, 3.0)]
        assert all(set(f) == {"pdq", "quality", "frame", "time"} for f in frames)
        raw = json.dumps(sent)
        assert not any(p.name in raw or p.stem in raw for p in chosen)
        assert [i["status"] for i in answer["items"]] == ["accepted"] * 5

        # The status page, then withdrawal with a confirmation. On the phone nothing was
        # copied or saved, so leaving the page asks first (the PIN is shown only once).
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.accept()))
        page.click("#status-link")
        page.wait_for_load_state("networkidle")
        assert dialogs == (["beforeunload"] if device == "phone" else [])
        page.fill("#case", case_number.lower().replace("-", " "))
        page.fill("#pin", pin)
        page.press("#pin", "Enter")
        expect(page.locator("#case-box")).to_be_visible()
        expect(page.locator("#case-state")).to_contain_text("Active")
        expect(page.locator("#case-items")).to_have_text("5")
        expect(page.locator("#case-matches")).to_have_text("0")
        page.screenshot(path=str(artifacts / f"status-page-{width}.png"), full_page=True)
        page.click("#withdraw")
        expect(page.locator("#confirm")).to_be_visible()
        expect(page.locator("#confirm-no")).to_be_focused()
        page.click("#confirm-no")  # changed their mind: nothing happens
        expect(page.locator("#case-state")).to_contain_text("Active")
        page.click("#withdraw")
        page.click("#confirm-yes")
        expect(page.locator("#case-state")).to_contain_text("Withdrawn")
        expect(page.locator("#withdraw-status")).to_contain_text("codes are no longer used")
        page.screenshot(path=str(artifacts / f"status-page-withdrawn-{width}.png"), full_page=True)
        status = httpx.get(f"{live_server.url}/v1/cases/{case_number}", headers={"X-Case-PIN": pin}).json()
        assert status["status"] == "withdrawn"

        # A wrong PIN: a calm message, no details.
        page.fill("#pin", "00000000")
        page.press("#pin", "Enter")
        expect(page.locator("#status-error")).to_contain_text("not right")
    finally:
        context.close()
    assert not errors, errors
    assert_no_file_bytes_sent(recorder, live_server.url, chosen)


def test_no_cookies_and_works_from_the_keyboard(browser, live_server) -> None:
    from playwright.sync_api import expect

    context, page, _, errors = open_page(browser, live_server, width=360)
    try:
        page.keyboard.press("Tab")
        expect(page.locator(".skip")).to_be_focused()
        page.keyboard.press("Enter")
        # The file chooser opens from the keyboard: focus reaches the (visually hidden) input.
        for _ in range(12):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "files":
                break
        assert page.evaluate("document.activeElement.id") == "files"
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")
        chooser.value.set_files(str(PDQ_FIXTURES / "q1050.jpg"))
        wait_until_hashed(page, 1)
        page.keyboard.press("Tab")  # the item's remove button
        assert page.evaluate("document.activeElement.textContent") == "Remove"
        assert context.cookies() == []
    finally:
        context.close()
    assert not errors, errors


def test_drag_and_drop(browser, live_server) -> None:
    import base64

    from playwright.sync_api import expect

    context, page, _, errors = open_page(browser, live_server, width=360)
    try:
        data = base64.b64encode((PDQ_FIXTURES / "q1050.jpg").read_bytes()).decode()
        transfer = page.evaluate_handle(
            """data => {
                const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], "dropped.jpg", {type: "image/jpeg"}));
                return transfer;
            }""",
            data,
        )
        page.dispatch_event("#drop", "dragenter", {"dataTransfer": transfer})
        expect(page.locator("#drop")).to_have_class(re.compile("dragging"))
        page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
        wait_until_hashed(page, 1)
        expect(page.locator(".item[data-status=ready]")).to_have_count(1)
        expect(page.locator("#drop")).not_to_have_class(re.compile("dragging"))
    finally:
        context.close()
    assert not errors, errors


def test_language_follows_the_browser_and_the_switch(browser, live_server, artifacts) -> None:
    from playwright.sync_api import expect

    context, page, _, errors = open_page(browser, live_server, width=360, locale="fr-BE")
    try:
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("h1")).to_have_text("Empêche la diffusion de tes images")
        expect(page.locator(".support-label").first).to_contain_text("Child Focus")
        page.click("button[data-lang=nl]")
        expect(page.locator("h1")).to_have_text("Voorkom dat je beelden gedeeld worden")
        expect(page.locator("button[data-lang=nl]")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#status-link")).to_have_attribute("href", "/status?lang=nl")
        page.screenshot(path=str(artifacts / "hash-page-nl-360.png"), full_page=True)
        page.click("#status-link")
        expect(page.locator("h1")).to_have_text("Bekijk je dossier")
    finally:
        context.close()
    assert not errors, errors


def test_same_pixels_give_python_hashes_bit_for_bit(browser, live_server, tmp_path) -> None:
    """PNG copies of the reference images: the browser decodes exactly Pillow's pixels."""
    pngs = []
    for jpeg in REFERENCE_JPEGS:
        png = tmp_path / f"{jpeg.stem}.png"
        with Image.open(jpeg) as image:
            image.convert("RGB").save(png)
        pngs.append(png)
    items = hash_in_browser(browser, live_server, pngs)
    for png, item in zip(pngs, items):
        expected = python_group(png)
        if not expected:  # too plain for Python too (small.jpg)
            assert item is None, png.name
            continue
        assert item is not None, png.name
        assert browser_group(item) == expected, png.name


def test_transparency_is_flattened_on_white_like_python(browser, live_server, tmp_path) -> None:
    """A PNG with an alpha gradient: the page composites on white as matcher.loading does."""
    import numpy as np

    with Image.open(PDQ_FIXTURES / "q1050.jpg") as image:
        rgba = np.asarray(image.convert("RGBA")).copy()
    h, w = rgba.shape[:2]
    rgba[..., 3] = np.clip(np.linspace(0, 255, w)[None, :] + np.linspace(0, 80, h)[:, None], 0, 255).astype(np.uint8)
    png = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(png)
    (item,) = hash_in_browser(browser, live_server, [png])
    row = compare(png, item)
    print("\nalpha PNG, browser vs Python:", row)
    assert row["full"] <= 2 and row["max"] <= 4, row


def test_browser_decoded_jpegs_are_within_a_few_bits(browser, live_server, tmp_path) -> None:
    # The reference images, and one with an EXIF orientation (6: turned a quarter) that
    # both sides must apply before hashing.
    oriented = tmp_path / "oriented-6.jpg"
    with Image.open(PDQ_FIXTURES / "bridge-1-original.jpg") as image:
        exif = Image.Exif()
        exif[0x0112] = 6
        image.save(oriented, quality=92, exif=exif)
    turned = python_group(oriented)["full"][0]
    assert bits(turned, python_group(PDQ_FIXTURES / "bridge-1-original.jpg")["full"][0]) > 64  # really turned
    paths = [*REFERENCE_JPEGS, oriented]
    items = hash_in_browser(browser, live_server, paths)
    rows = [compare(p, item) for p, item in zip(paths, items)]
    print("\nbrowser-decoded JPEG vs Pillow, PDQ bits:", json.dumps(rows, indent=1))
    for row in rows:
        if row.get("browser", True) is None:
            assert row["python_variants"] == 0, row  # refused by both
            continue
        assert row["full"] is not None and row["full"] <= 8, row
        assert row["max"] <= 16, row


def test_photo_set_distances_browser_vs_pillow(browser, live_server, shared_data) -> None:
    photos = sorted(p for p in (shared_data / "photos").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    sample = photos[::PHOTO_STEP]
    items = hash_in_browser(browser, live_server, sample)
    rows = [compare(p, item) for p, item in zip(sample, items)]
    used = [r for r in rows if r.get("full") is not None]
    full = sorted(r["full"] for r in used)
    worst = sorted(r["max"] for r in used)
    summary = {
        "photos": len(sample),
        "hashed": len(used),
        "full_frame_bits": {d: full.count(d) for d in sorted(set(full))},
        "any_variant_max_bits": {d: worst.count(d) for d in sorted(set(worst))},
        "variant_set_differs": sum(bool(r["variants_only_browser"] or r["variants_only_python"]) for r in used),
    }
    print("\nphoto set, browser vs Pillow:", json.dumps(summary))
    out = os.environ.get("NCII_BROWSER_DISTANCES_OUT")
    if out:
        Path(out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    assert len(used) == len(sample)
    assert full[len(full) // 2] <= 4 and full[-1] <= 16, summary
