"""Every page a user can reach, as each role, on a demo with data in every part.

The crawl logs in as each role, follows every same-origin GET link reachable from the home
page (bounded), and fails on a 5xx, a Python exception name or traceback, SQL, or an internal
code (status, channel, role, config key, job state) shown as visible text. A browser pass
then opens one page of each kind at 390 px and fails when the page is wider than the phone."""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from tests.conftest import make_app
from tests.helpers import PASSWORD

MAX_PAGES = 150  # per role
MAX_PER_SHAPE = 3  # URLs that differ only by ids/query: a few are enough
MAX_PER_FAMILY = 12  # URLs under the same two first path segments (/measure/units/<code>...)
PHONE = {"width": 390, "height": 844}
SKIP_PREFIXES = ("/logout", "/language/", "/static/", "/api/", "/hooks/")

EXCEPTION_RE = re.compile(r"\bTraceback\b|\b[A-Z][A-Za-z]*(?:Error|Exception)\b")
#: "62.651 s" reads as sixty-two thousand seconds in Vietnamese: a decimal point before a unit
ENGLISH_NUMBER_RE = re.compile(r"\b\d+\.\d+ ?(?:s|giây|phút|MB|KB|GB|%)(?!\w)")
SQL_RE = re.compile(r"\[SQL:|\bSELECT\b[^.]{0,200}\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|"
                    r"\bDELETE FROM\b|sqlite3\.|psycopg")


def internal_codes() -> set[str]:
    """Names that are the program's, not the reader's: every status, channel, role,
    job state and adapter config key."""
    from campaigns.kits.access import KIT_STATUS_LABELS
    from campaigns.models import CampaignStatus
    from campaigns.sms.views import BATCH_STATUS_LABELS, SMS_STATUS_LABELS
    from channels import Outcome, registry
    from core.models import Role
    from scheduler.states import STATUS_LABELS

    codes: set[str] = set()
    codes |= {str(k) for k in STATUS_LABELS}
    codes |= {c.value for c in CampaignStatus}
    codes |= {r.value for r in Role}
    codes |= {str(k) for k in KIT_STATUS_LABELS} | {str(k) for k in BATCH_STATUS_LABELS}
    codes |= {str(k) for k in SMS_STATUS_LABELS}
    codes |= {"pending", "running", "done", "failed", "queued"}  # background job states
    codes |= {o.value for o in Outcome}
    codes |= {"public_service", "advertising"}
    for name in registry.names():
        codes.add(name)
        cls = registry.adapter_class(name)
        codes |= {f.name for f in cls.config_spec}
        codes |= {f.name for f in getattr(cls, "options_spec", ())}
    # brand names that are also channel codes read the same in both languages
    return {c for c in codes if c not in {"webhook"} and len(c) > 2}


class _Page(HTMLParser):
    """Links and the text a reader sees (not scripts, styles or attributes). Text in
    ``<code>`` is a literal the reader types (a template field, a file column) and is kept
    out of the internal-name check."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style", "template", "code"):
            self._hidden += 1
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template", "code") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.text.append(data)


def visible_text(html: str) -> tuple[str, list[str]]:
    parser = _Page()
    parser.feed(html)
    text = " ".join(parser.text)
    text = re.sub(r"\S+@\S+", " ", text)  # e-mail addresses name people, not states
    text = re.sub(r"https?://\S+", " ", text)
    return text, parser.links


def shape(url: str) -> str:
    parts = urlsplit(url)
    return re.sub(r"\d+", "N", parts.path)


def family(url: str) -> str:
    segments = urlsplit(url).path.strip("/").split("/")
    return "/".join(segments[:2]) + f"#{len(segments)}"


def problems_in(url: str, html: str, codes: set[str], vietnamese: bool = True) -> list[str]:
    """What a reader should not see on the page at ``url``."""
    text, _links = visible_text(html)
    found = []
    if vietnamese and (m := ENGLISH_NUMBER_RE.search(text)):
        found.append(f"{url}: number in English form {m.group(0)!r}")
    if m := EXCEPTION_RE.search(text):
        found.append(f"{url}: Python name {m.group(0)!r}")
    if m := SQL_RE.search(text):
        found.append(f"{url}: SQL {m.group(0)!r}")
    tokens = set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", text))
    leaked = sorted(tokens & codes)
    if leaked:
        found.append(f"{url}: internal names shown {leaked}")
    return found


def crawl(client, codes: set[str], vietnamese: bool = True) -> tuple[list[str], list[str], int]:
    """BFS from the home page; returns (problems, HTML page URLs, pages fetched)."""
    start = "/"
    seen = {start}
    shapes: dict[str, int] = {}
    families: dict[str, int] = {}
    queue = deque([start])
    problems, html_pages = [], []
    fetched = 0
    while queue and fetched < MAX_PAGES:
        url = queue.popleft()
        resp = client.get(url, follow_redirects=True)
        fetched += 1
        if resp.status_code >= 500:
            problems.append(f"{url}: HTTP {resp.status_code}")
            continue
        if resp.status_code != 200 or not resp.mimetype == "text/html":
            continue
        html = resp.get_data(as_text=True)
        html_pages.append(url)
        problems += problems_in(url, html, codes, vietnamese)
        for href in visible_text(html)[1]:
            target = urldefrag(urljoin("http://localhost" + url, href))[0]
            parts = urlsplit(target)
            if parts.scheme not in ("http", "") or parts.netloc not in ("localhost", ""):
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path in seen or parts.path.startswith(SKIP_PREFIXES):
                continue
            if "lang=" in parts.query:  # a public page's language switch, like /language/
                continue
            key, fam = shape(path), family(path)
            if shapes.get(key, 0) >= MAX_PER_SHAPE or families.get(fam, 0) >= MAX_PER_FAMILY:
                continue
            shapes[key] = shapes.get(key, 0) + 1
            families[fam] = families.get(fam, 0) + 1
            seen.add(path)
            queue.append(path)
    return problems, html_pages, fetched


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tests import demo_world

    tmp = tmp_path_factory.mktemp("crawl")
    app = make_app(f"sqlite:///{tmp / 'crawl.db'}", tmp, WTF_CSRF_ENABLED=False)
    ids = demo_world.build(app, tmp)
    yield app, ids
    from core.db import get_engine

    get_engine(app).dispose()


ROLES = ["admin", "communicator", "reviewer", "unit_officer", "telecom_partner"]
_pages: dict[str, list[str]] = {}


@pytest.mark.parametrize("role", ROLES)
def test_every_reachable_page_reads_as_plain_words(world, role):
    from tests.demo_world import ROLE_USERS

    app, _ids = world
    client = app.test_client()
    resp = client.post("/login", data={"email": ROLE_USERS[role][1], "password": PASSWORD})
    assert resp.status_code in (302, 303)
    problems, pages, fetched = crawl(client, internal_codes())
    _pages[role] = pages
    print(f"crawl as {role}: {fetched} URLs fetched, {len(pages)} HTML pages, "
          f"{len({shape(p) for p in pages})} kinds of page")  # shown with pytest -s
    assert fetched > (3 if role == "telecom_partner" else 10), f"only {fetched} pages reached as {role}"
    assert not problems, "\n".join(problems)


def test_english_pages_show_no_internal_names(world):
    """The English UI (labels from the catalogue): no snake_case code, exception or SQL.
    Plain English words ("sent", "ready") are ordinary text there, so only codes that
    cannot be English words are checked."""
    from tests.demo_world import ROLE_USERS

    app, _ids = world
    client = app.test_client()
    client.post("/login", data={"email": ROLE_USERS["communicator"][1], "password": PASSWORD})
    assert client.post("/language/en", data={"next": "/"}).status_code == 302
    try:
        assert "Campaigns" in client.get("/campaigns").get_data(as_text=True)  # English indeed
        problems, _pages, fetched = crawl(client, {c for c in internal_codes() if "_" in c},
                                          vietnamese=False)
    finally:  # the choice is saved on the user, whom the other tests log in as
        client.post("/language/vi", data={"next": "/"})
    assert fetched > 10
    assert not problems, "\n".join(problems)


@pytest.mark.browser
@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_a_phone(world, role):
    """One page of each kind (ids and queries aside) at 390 px: no sideways scrolling."""
    from tests.browser import chromium, serve
    from tests.demo_world import ROLE_USERS

    app, _ids = world
    pages = _pages.get(role)
    if pages is None:  # run alone: crawl first
        client = app.test_client()
        client.post("/login", data={"email": ROLE_USERS[role][1], "password": PASSWORD})
        _problems, pages, _n = crawl(client, internal_codes())
    by_shape: dict[str, str] = {}
    for url in pages:
        by_shape.setdefault(shape(url), url)
    too_wide = []
    with serve(app) as base, chromium(viewport=PHONE) as ctx:
        page = ctx.new_page()
        page.goto(f"{base}/login")
        page.get_by_label("Email").fill(ROLE_USERS[role][1])
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_load_state()
        for url in by_shape.values():
            page.goto(base + url)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                culprit = page.evaluate("""() => {
                  const out = [];
                  for (const el of document.querySelectorAll('body *')) {
                    const r = el.getBoundingClientRect();
                    if (r.right > 391 && !el.closest('.table-wrap')) out.push(el.tagName.toLowerCase() +
                      (el.id ? '#' + el.id : '') + (el.className ? '.' + String(el.className).split(' ').join('.') : ''));
                    if (out.length > 4) break;
                  }
                  return out.join(', ');
                }""")
                too_wide.append(f"{url}: {width} px ({culprit})")
    assert not too_wide, "\n".join(too_wide)
