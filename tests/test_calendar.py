"""The calendar: opens where the entries are, colours by state with text, moves entries
to another day (drag and drop or the form) with the composer's rules, a list on phones,
and the contrast fixes of issue #16.10."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from core.db import session_scope
from core.timeutil import LOCAL_TZ
from tests.conftest import make_app
from tests.helpers import PASSWORD, api_headers, login, make_user

JSON = {"Accept": "application/json"}


def _campaign(app, title="Chiến dịch lịch", **extra) -> int:
    body = {"title": title, "starts_on": "2026-01-01", "ends_on": "2030-12-31", "scope": ["soc-trang"], **extra}
    r = app.test_client().post("/api/v1/campaigns", json=body, headers=api_headers(app, "communicator"))
    assert r.status_code == 201, r.json
    return r.json["id"]


def _local(day: date, hh: int = 8, mm: int = 30) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=LOCAL_TZ)


def _today() -> date:
    return datetime.now(UTC).astimezone(LOCAL_TZ).date()


def _account(s, name="Trang lịch"):
    from scheduler.models import ChannelAccount

    account = ChannelAccount(channel="webhook", name=name, config={"url": "http://127.0.0.1:9/x"})
    s.add(account)
    s.flush()
    return account


def _delivery(app, cid, when: datetime, *, text="Tin lịch", status=None, held=True, name="Trang lịch") -> int:
    from scheduler import service as ss
    from scheduler.models import ChannelAccount

    with app.app_context(), session_scope(app) as s:
        account = s.exec(select(ChannelAccount).where(ChannelAccount.name == name)).first() or _account(s, name)
        d = ss.create_delivery(s, account=account, content={"text": text}, scheduled_at=when.astimezone(UTC),
                               campaign_id=cid, held=held)
        if status is not None:
            d.status = status
            s.add(d)
        s.flush()
        return d.id


def _range(page: str) -> str:
    return re.search(r'id="cal-range">([^<]+)<', page).group(1).strip()


def test_opens_on_the_nearest_period_with_entries_and_remembers(app):
    from campaigns.models import ContentItem

    cid = _campaign(app)
    future = (_today().replace(day=1) + timedelta(days=100)).replace(day=12)
    with app.app_context(), session_scope(app) as s:
        s.add(ContentItem(campaign_id=cid, title="Bài tháng sau", channel="facebook", planned_at=_local(future)))
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get("/calendar").text
    assert _range(page) == f"Tháng {future.month}/{future.year}"
    assert 'id="cal-jumped"' in page and "Bài tháng sau" in page
    # an explicit date wins, and is remembered for the next visit
    today = _today()
    page = client.get(f"/calendar?d={today.isoformat()}").text
    assert _range(page) == f"Tháng {today.month}/{today.year}" and 'id="cal-jumped"' not in page
    assert _range(client.get("/calendar").text) == f"Tháng {today.month}/{today.year}"
    # a new session starts on the period with entries again
    other = app.test_client()
    login(other, make_user(app, "reviewer"))
    assert _range(other.get("/calendar").text) == f"Tháng {future.month}/{future.year}"


def test_states_have_colour_and_text_and_a_legend(app):
    from campaigns.models import ContentItem
    from scheduler.states import Status

    draft = _campaign(app, "Chiến dịch nháp")
    day = _today() + timedelta(days=3)
    with app.app_context(), session_scope(app) as s:
        s.add(ContentItem(campaign_id=draft, title="Kế hoạch nháp", channel="zalo", planned_at=_local(day, 9)))
    _delivery(app, draft, _local(day, 10), text="Tin bị giữ")
    _delivery(app, draft, _local(day, 11), text="Tin đã gửi", status=Status.sent, held=False)
    _delivery(app, draft, _local(day, 12), text="Tin thất bại", status=Status.failed, held=False)
    _delivery(app, draft, _local(day, 13), text="Tin đã lên lịch", held=False)
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get(f"/calendar?d={day.isoformat()}").text
    grid = page[page.index('id="cal-grid"'):page.index("</table>")]
    for title, state, text in [("Kế hoạch nháp", "waiting", "Chờ duyệt"), ("Tin bị giữ", "held", "Chờ phê duyệt"),
                               ("Tin đã gửi", "sent", "Đã gửi"), ("Tin thất bại", "failed", "Lỗi"),
                               ("Tin đã lên lịch", "scheduled", "Đã lên lịch")]:
        entry = re.search(r'<a class="entry st-(\w+)[^>]*>((?:(?!</a>).)*' + re.escape(title) + r".*?)</a>", grid, re.S)
        assert entry, title
        assert entry.group(1) == state, (title, entry.group(1))
        assert f'<span class="entry-state">{text}' in entry.group(2), title  # text, not colour alone
    legend = page[page.index('class="cal-legend"'):page.index("</details>")]
    for key in ("waiting", "held", "scheduled", "sent", "failed"):
        assert f"st-{key}" in legend


def test_calendar_is_a_plain_table_and_an_agenda(app):
    cid = _campaign(app)
    day = _today() + timedelta(days=2)
    _delivery(app, cid, _local(day))
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get(f"/calendar?d={day.isoformat()}").text
    assert 'role="grid"' not in page
    assert page.count('<th scope="col">') == 7 and "<caption" in page
    agenda = page[page.index('class="cal-agenda"'):]
    assert "Tin lịch" in agenda and "Dời ngày" in agenda
    # a reviewer sees the entries but nothing to move
    rev = app.test_client()
    login(rev, make_user(app, "reviewer"))
    page = rev.get(f"/calendar?d={day.isoformat()}").text
    assert "Tin lịch" in page and 'draggable="true"' not in page and "data-move-url" not in page


def _css_rule(css: str, selector: str) -> str:
    m = re.search(re.escape(selector) + r"[^{]*\{([^}]*)\}", css)
    assert m, selector
    return m.group(1)


def _contrast(a: str, b: str) -> float:
    def lum(h):
        h = h.lstrip("#")
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        rgb = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_of_other_month_days_and_green_badge():
    """Issue #16.10: both were under 4.5:1 (2.44:1 and 4.34:1)."""
    css = (Path(__file__).resolve().parent.parent / "core" / "static" / "app.css").read_text()
    variables = dict(re.findall(r"--(\w+):(#[0-9a-fA-F]{3,6})", css))

    def colour(rule: str, prop: str) -> str:
        value = re.search(r"(?<![-\w])" + prop + r":\s*([^;}\s]+)", rule).group(1)
        m = re.fullmatch(r"var\(--(\w+)\)", value)
        return variables[m.group(1)] if m else value

    badge = _css_rule(css, ".badge.s-approved, .badge.s-active, .badge.s-sent")
    assert _contrast(colour(badge, "color"), colour(badge, "background")) >= 4.5
    other = _css_rule(css, ".cal td.day.other ")
    assert "opacity" not in other
    number = _css_rule(css, ".cal td.day.other .day-num")
    assert _contrast(colour(number, "color"), colour(other, "background")) >= 4.5
    assert _contrast(colour(other, "color"), colour(other, "background")) >= 4.5
    assert not re.search(r"\.other[^{]*\{[^}]*opacity", css)


def test_move_a_delivery_by_drag_keeps_the_time_and_the_rules(app):
    from scheduler.models import Delivery
    from scheduler.states import Status

    cid = _campaign(app)
    day = _today() + timedelta(days=5)
    did = _delivery(app, cid, _local(day, 7, 45))
    sent = _delivery(app, cid, _local(day, 9), text="Đã gửi rồi", status=Status.sent, held=False)
    with app.app_context(), session_scope(app) as s:
        old_key = s.get(Delivery, did).idempotency_key
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    target = day + timedelta(days=3)
    r = client.post("/calendar/move", data={"kind": "delivery", "id": did, "date": target.isoformat()}, headers=JSON)
    assert r.status_code == 200 and r.json["ok"] and r.json["date"] == target.isoformat()
    assert "Đã dời sang" in r.json["message"]
    with app.app_context(), session_scope(app) as s:
        d = s.get(Delivery, did)
        local = d.scheduled_at.astimezone(LOCAL_TZ)
        assert (local.date(), local.hour, local.minute) == (target, 7, 45)
        assert d.idempotency_key != old_key and d.status == Status.scheduled
    # a past day is refused with a Vietnamese message
    r = client.post("/calendar/move", data={"kind": "delivery", "id": did,
                                            "date": (_today() - timedelta(days=1)).isoformat()}, headers=JSON)
    assert r.status_code == 422 and "đã qua" in r.json["error"]["message"]
    # garbage date
    r = client.post("/calendar/move", data={"kind": "delivery", "id": did, "date": "hôm nay"}, headers=JSON)
    assert r.status_code == 422 and "dd/mm/yyyy" in r.json["error"]["message"]
    # a delivery already sent does not move
    r = client.post("/calendar/move", data={"kind": "delivery", "id": sent, "date": target.isoformat()}, headers=JSON)
    assert r.status_code == 409 and "Chỉ dời được lượt gửi chưa gửi" in r.json["error"]["message"]
    # the same content on the same account at the same time already exists: refused
    twin = _delivery(app, cid, _local(target + timedelta(days=1), 7, 45))
    r = client.post("/calendar/move", data={"kind": "delivery", "id": twin, "date": target.isoformat()}, headers=JSON)
    assert r.status_code == 409 and "đã có lượt gửi cùng nội dung" in r.json["error"]["message"]
    # a reviewer may not move anything
    rev = app.test_client()
    login(rev, make_user(app, "reviewer"))
    r = rev.post("/calendar/move", data={"kind": "delivery", "id": did, "date": target.isoformat()}, headers=JSON)
    assert r.status_code == 403
    # unknown entry
    assert client.post("/calendar/move", data={"kind": "delivery", "id": 999999, "date": target.isoformat()},
                       headers=JSON).status_code == 404


def test_move_an_item_with_the_form(app):
    from campaigns.models import ContentItem

    cid = _campaign(app)
    day = _today() + timedelta(days=4)
    with app.app_context(), session_scope(app) as s:
        item = ContentItem(campaign_id=cid, title="Bài cần dời", channel="facebook", planned_at=_local(day, 19, 0))
        s.add(item)
        s.flush()
        iid = item.id
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    form = client.get(f"/calendar/move?kind=item&id={iid}")
    assert form.status_code == 200 and "Bài cần dời" in form.text and 'type="date"' in form.text
    target = day + timedelta(days=7)
    r = client.post("/calendar/move", data={"kind": "item", "id": iid, "date": target.strftime("%d/%m/%Y")})
    assert r.status_code == 302 and f"d={target.isoformat()}" in r.headers["Location"]
    with app.app_context(), session_scope(app) as s:
        local = s.get(ContentItem, iid).planned_at.astimezone(LOCAL_TZ)
    assert (local.date(), local.hour) == (target, 19)
    r = client.post("/calendar/move", data={"kind": "item", "id": iid, "date": "2001-01-01"})
    assert r.status_code == 422 and "đã qua" in r.text and 'value="2001-01-01"' in r.text


def test_unit_officer_cannot_move_or_see_other_units(app):
    cid = _campaign(app, scope=["ke-sach"])
    day = _today() + timedelta(days=2)
    did = _delivery(app, cid, _local(day))
    officer = app.test_client()
    login(officer, make_user(app, "unit_officer", "tx-vinh-chau"))
    assert "Tin lịch" not in officer.get(f"/calendar?d={day.isoformat()}").text
    assert officer.post("/calendar/move", data={"kind": "delivery", "id": did, "date": day.isoformat()},
                        headers=JSON).status_code == 403


def test_move_needs_the_csrf_token(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'csrf.db'}", tmp_path)
    cid = _campaign(app)
    day = _today() + timedelta(days=3)
    did = _delivery(app, cid, _local(day))
    client = app.test_client()
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    user = make_user(app, "communicator")
    assert client.post("/login", data={"email": user.email, "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    r = client.post("/calendar/move", data={"kind": "delivery", "id": did, "date": day.isoformat()}, headers=JSON)
    assert r.status_code == 400 and "Phiên làm việc đã hết hạn" in r.text  # the script shows its own sentence
    page = client.get(f"/calendar?d={day.isoformat()}").text
    token = re.search(r'data-csrf="([^"]+)"', page).group(1)
    r = client.post("/calendar/move", data={"kind": "delivery", "id": did, "csrf_token": token,
                                            "date": (day + timedelta(days=1)).isoformat()}, headers=JSON)
    assert r.status_code == 200, r.json


@pytest.mark.browser
def test_drag_to_reschedule_and_phone_agenda(tmp_path):
    from tests.browser import chromium, serve, sign_in

    app = make_app(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)
    cid = _campaign(app)
    day = _today() + timedelta(days=1)
    if day.weekday() == 6:  # keep the target in the same week row of the grid
        day += timedelta(days=1)
    did = _delivery(app, cid, _local(day, 8, 0), text="Kéo thả tin này")
    comm = make_user(app, "communicator")
    with serve(app) as base, chromium() as ctx:
        page = ctx.new_page()
        sign_in(page, base, comm.email)
        page.goto(f"{base}/calendar?d={day.isoformat()}")
        target = day + timedelta(days=1)
        page.drag_and_drop(f'#cal-grid a[data-id="{did}"]', f'#cal-grid td[data-date="{target.isoformat()}"]')
        page.wait_for_selector(f'#cal-grid td[data-date="{target.isoformat()}"] a[data-id="{did}"]')
        # a refused drop (to a past day) shows the server's message
        past = _today() - timedelta(days=1)
        if page.locator(f'#cal-grid td[data-date="{past.isoformat()}"]').count():
            page.drag_and_drop(f'#cal-grid a[data-id="{did}"]', f'#cal-grid td[data-date="{past.isoformat()}"]')
            page.wait_for_selector("#cal-message:not([hidden])")
            assert "đã qua" in page.inner_text("#cal-message")
        page.set_viewport_size({"width": 390, "height": 800})
        page.reload()
        assert not page.is_visible("#cal-grid")
        assert page.is_visible(f'.cal-agenda a[data-id="{did}"]')
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width


def test_nearest_period_and_move_on_both_databases(any_app):
    """The period search (min/max over timestamps) and the move's update on SQLite and PostgreSQL."""
    from campaigns.models import ContentItem
    from scheduler.models import Delivery

    app = any_app
    cid = _campaign(app)
    future = (_today().replace(day=1) + timedelta(days=100)).replace(day=12)
    with app.app_context(), session_scope(app) as s:
        s.add(ContentItem(campaign_id=cid, title="Bài tháng sau", channel="facebook", planned_at=_local(future)))
    did = _delivery(app, cid, _local(future, 9))
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    assert _range(client.get("/calendar").text) == f"Tháng {future.month}/{future.year}"
    target = future + timedelta(days=1)
    r = client.post("/calendar/move", data={"kind": "delivery", "id": did, "date": target.isoformat()}, headers=JSON)
    assert r.status_code == 200, r.json
    with app.app_context(), session_scope(app) as s:
        assert s.get(Delivery, did).scheduled_at.astimezone(LOCAL_TZ).date() == target
