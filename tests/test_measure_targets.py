"""Plan targets as data and target values computed from the app's activity."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import login
from tests.measure_helpers import (
    PLAN_FILE,
    add_account,
    add_delivery,
    figure_form,
    headers,
    pdf_file,
    plan_doc,
    results_by_code,
    setup_world,
    target_id,
)


@pytest.fixture
def world(app, monkeypatch):
    app.config["LANTOA_FEEDBACK_RATE_LIMIT"] = "1000 per minute"
    return setup_world(app, monkeypatch)


def dashboard_values(client, year: int, unit: str | None = None) -> dict[str, str]:
    url = f"/measure?year={year}" + (f"&unit={unit}" if unit else "")
    html = client.get(url).get_data(as_text=True)
    return dict(re.findall(r'<tr id="t-([A-Za-z0-9]+)" data-value="([^"]*)"', html))


def docx_values(data: bytes) -> dict[str, str]:
    """Target code -> the 'Kết quả' cell of the report's target table."""
    from docx import Document

    doc = Document(io.BytesIO(data))
    out = {}
    for table in doc.tables:
        header = [c.text for c in table.rows[0].cells]
        if header[:4] == ["Mã", "Chỉ tiêu", "Mục tiêu", "Kết quả"]:
            for row in table.rows[1:]:
                cells = [c.text for c in row.cells]
                out[cells[0]] = cells[3]
    return out


def test_plan_file_holds_the_plans_targets_and_tasks(app):
    from campaigns.demo import seed_units
    from campaigns.measure.models import PlanTarget, PlanTask, TargetKind
    from campaigns.measure.plans import load_plan, resolve_units

    with app.app_context(), session_scope(app) as s:
        seed_units(s)
        plan = load_plan(s, PLAN_FILE)
        targets = {t.code: t for t in s.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)).all()}
        tasks = {t.code: t for t in s.exec(select(PlanTask).where(PlanTask.plan_id == plan.id)).all()}
        # II.2a: 14 targets for 2025 (one with a sub-target), II.2b: 3 for 2030
        assert len([t for t in targets.values() if t.due_year == 2025]) == 15
        assert len([t for t in targets.values() if t.due_year == 2030]) == 3
        assert targets["T10"].goal == 80 and targets["T10"].kind == TargetKind.entered
        assert targets["T12"].goal == 90 and targets["T12"].metric == "satisfaction"
        assert targets["T12b"].goal == 85 and targets["T12b"].options["services"] == ["dat-dai", "xay-dung", "dau-tu"]
        assert targets["T11"].goal == 50 and targets["T16"].goal == 70
        assert targets["T05"].metric == "grassroots_broadcast"
        assert plan.deadline == date(2025, 12, 15) and plan.report_to == "so-khcn"
        # section IV tasks with section VI responsibilities
        assert {"IV.1a", "IV.3c", "IV.3d", "IV.4a", "IV.6d"} <= set(tasks)
        assert tasks["IV.3c"].due == date(2025, 10, 10)
        assert [u.code for u in resolve_units(s, tasks["IV.4b"].responsible)] == ["so-gddt"]
        all_units = resolve_units(s, ["@all"])
        assert len(all_units) == 17  # 6 departments + 11 districts
        # reloading is an upsert: no duplicates, edits kept in sync with the file
        again = load_plan(s, PLAN_FILE)
        assert again.id == plan.id
        assert len(s.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)).all()) == len(targets)


def test_bad_plan_files_are_rejected_with_every_problem(app):
    from campaigns.demo import seed_units
    from campaigns.measure.plans import PlanError, load_plan

    doc = plan_doc(2031)
    doc["targets"][0]["goal"] = 150
    doc["targets"][2]["metric"] = "likes"
    doc["tasks"][0]["responsible"] = ["khong-co-don-vi"]
    with app.app_context(), session_scope(app) as s:
        seed_units(s)
        with pytest.raises(PlanError) as exc:
            load_plan(s, doc)
        text = "\n".join(exc.value.errors)
        assert "T01" in text and "0 đến 100" in text
        assert "likes" in text
        with pytest.raises(PlanError) as exc:
            load_plan(s, plan_doc(2031) | {"tasks": [{"code": "X", "title": "x", "responsible": ["khong-co"]}]})
        assert "khong-co" in exc.value.errors[0]
        with pytest.raises(PlanError):
            load_plan(s, b"key: [unclosed")


def test_activity_moves_dashboard_and_docx(app, client, runner, world):
    """Send a post, confirm a broadcast, enter a figure: the dashboard and the report follow."""
    from tests.fakes.webhook import WebhookReceiver

    year = world["year"]
    login(client, world["users"]["admin"])
    before = dashboard_values(client, year)
    assert before["T03"] == "0.0" and before["T05"] == "0.0" and before["T10"] == ""
    result = runner.invoke(args=["report", "yearly", "--year", str(year), "--out", str(app.instance_path) + "/a.docx"])
    assert result.exit_code == 0, result.output
    with open(app.instance_path + "/a.docx", "rb") as fh:
        docx_before = docx_values(fh.read())
    assert docx_before["T03"] == "0%" and docx_before["T05"] == "0%" and docx_before["T10"] == "—"

    # 1. a post goes out on the district's webhook channel (a real dispatch pass)
    with WebhookReceiver() as receiver:
        account = add_account(app, "webhook", "tx-vinh-chau", {"url": receiver.url + "/hook"})
        delivery = add_delivery(app, account, "Hướng dẫn nộp hồ sơ trực tuyến trên Cổng DVC")
        out = runner.invoke(args=["dispatch-due"])
        assert out.exit_code == 0, out.output
        assert len(receiver.requests) == 1
    from scheduler.models import Delivery

    with app.app_context(), session_scope(app) as s:
        assert s.get(Delivery, delivery).status == "sent"

    # 2. the commune officer confirms a loudspeaker broadcast through the API
    speaker = add_account(app, "loudspeaker", "xa-lac-hoa", {"unit_code": "xa-lac-hoa"})
    broadcast = add_delivery(app, speaker, "Bản tin DVCTT buổi sáng", held=True, unit_code="xa-lac-hoa")
    r = client.post(f"/api/v1/broadcasts/{broadcast}/confirm", json={"note": "đã phát 6:00"},
                    headers=headers(app, "commune"))
    assert r.status_code == 200, r.get_json()

    # 3. the district enters a figure with a PDF as evidence (web form)
    district = app.test_client()
    login(district, world["users"]["district"])
    t10 = target_id(app, year, "T10")
    r = district.post(f"/measure/units/tx-vinh-chau/figures/{t10}",
                      data={**figure_form("85"), "attachment": pdf_file()}, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)

    after = dashboard_values(client, year)
    assert after["T03"] == str(round(100 / 17, 1))  # 1 of 17 departments/districts published
    assert after["T05"] == str(round(100 / 6, 1))  # 1 of 6 communes broadcast (confirmed)
    assert after["T10"] == "85.0"
    # the district's own view: it published, so 100% of itself
    assert dashboard_values(client, year, "tx-vinh-chau")["T03"] == "100.0"
    assert dashboard_values(client, year, "ke-sach")["T03"] == "0.0"

    r = client.get(f"/api/v1/reports/yearly?year={year}", headers=headers(app, "reviewer"))
    assert r.status_code == 200
    docx_after = docx_values(r.data)
    assert docx_after["T03"] == f"{round(100 / 17, 1):g}%".replace(".", ",")  # Vietnamese decimal comma
    assert docx_after["T05"] == f"{round(100 / 6, 1):g}%".replace(".", ",")
    assert docx_after["T10"] == "85%"


def test_satisfaction_and_feedback_handling_targets(app, client, world):
    year = world["year"]
    for service, score in [("ho-tich", 5), ("ho-tich", 4), ("dat-dai", 5), ("dat-dai", 2)]:
        r = client.post("/y-kien", data={"service": service, "satisfaction": str(score), "unit": "tx-vinh-chau"})
        assert r.status_code == 303
    res = results_by_code(app, year)
    assert res["T12"].value == 75.0 and res["T12"].detail.startswith("3/4")
    assert res["T12b"].value == 50.0  # land/construction/investment only: 1 of 2
    assert res["T13"].value == 0.0
    assert not res["T12"].met and res["T12"].progress == pytest.approx(100 * 75 / 90, abs=0.1)

    from campaigns.measure.models import Feedback

    with app.app_context(), session_scope(app) as s:
        fb_id = s.exec(select(Feedback.id)).first()
    r = client.post(f"/api/v1/feedback/{fb_id}/handle", json={"status": "handled", "note": "Đã hướng dẫn lại"},
                    headers=headers(app, "district"))
    assert r.status_code == 200, r.get_json()
    assert results_by_code(app, year)["T13"].value == 25.0
    # scoped: another district's view has no feedback
    assert results_by_code(app, year, "ke-sach")["T12"].value is None


def test_entered_figures_average_latest_per_unit_and_trend(app, world):
    from campaigns.measure import entries
    from campaigns.measure.compute import local_today
    from campaigns.measure.models import PlanTarget
    from core.models import OrgUnit, User

    year = world["year"]
    today = local_today()
    with app.app_context(), session_scope(app) as s:
        target = s.get(PlanTarget, target_id(app, year, "T10"))
        vc = s.exec(select(OrgUnit).where(OrgUnit.code == "tx-vinh-chau")).one()
        ks = s.exec(select(OrgUnit).where(OrgUnit.code == "ke-sach")).one()
        admin = s.get(User, world["users"]["admin"].id)
        kw = {"year": year, "today": today}
        entries.enter_figure(s, admin, target, vc, figure_form("60", date(year, 1, 1).isoformat(),
                                                               evidence_url="https://dvc.example/1"), **kw)
        entries.enter_figure(s, admin, target, vc, figure_form("90", evidence_url="https://dvc.example/2"), **kw)
        entries.enter_figure(s, admin, target, ks, figure_form("70", evidence_url="https://dvc.example/3"), **kw)
    res = results_by_code(app, year)["T10"]
    assert res.value == 80.0  # latest counts per unit: (90 + 70) / (100 + 100)
    # 2 of the 12 units that owe T10 reported: not "Đạt" whatever the value
    assert not res.met and res.verdict == "Chưa đủ số liệu" and res.detail.startswith("2/12 đơn vị đã báo cáo")
    assert len(res.trend) == today.month
    assert res.trend[-1][1] == 80.0
    if today.month > 1:
        assert res.trend[0][1] == 60.0  # in January only the first figure existed


def test_xlsx_export_and_trend_chart(app, client, world):
    from openpyxl import load_workbook

    year = world["year"]
    login(client, world["users"]["reviewer"])
    r = client.get(f"/measure/export.xlsx?year={year}")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames == ["Chỉ tiêu", "Nhiệm vụ", "Đơn vị"]
    codes = [row[0].value for row in wb["Chỉ tiêu"].iter_rows(min_row=3)]
    assert "T10" in codes and "T17" in codes
    assert wb["Nhiệm vụ"].max_row > 28
    t = target_id(app, year, "T05")
    r = client.get(f"/measure/chart/{t}.png")
    assert r.status_code == 200 and r.data.startswith(b"\x89PNG")
    from PIL import Image

    img = Image.open(io.BytesIO(r.data))
    assert img.size == (640, 300)


def test_tracked_link_counts_scans_and_campaign_reach(app, client, world):
    from campaigns.models import Campaign, LinkScan

    with app.app_context(), session_scope(app) as s:
        campaign = s.exec(select(Campaign)).first()
        cid, target = campaign.id, campaign.target_url
    r = client.get(f"/r/{cid}/xa-lac-hoa")
    assert r.status_code == 302 and r.headers["Location"] == target
    client.get(f"/r/{cid}/xa-lac-hoa")
    client.get(f"/r/{cid}/tt-ke-sach")
    assert client.get(f"/r/{cid}/khong-co").status_code == 404
    assert client.get("/r/999999/xa-lac-hoa").status_code == 404
    with app.app_context(), session_scope(app) as s:
        scans = s.exec(select(LinkScan)).all()
        assert len(scans) == 3
        assert set(LinkScan.model_fields) == {"id", "campaign_id", "unit_id", "at"}  # no personal data
    r = client.get(f"/api/v1/campaigns/{cid}/reach", headers=headers(app, "communicator"))
    body = r.get_json()
    assert body["scans"] == 3 and body["scans_by_unit"][0] == {"unit": "xa-lac-hoa", "name": "Xã Lạc Hòa", "scans": 2}
    login(client, world["users"]["communicator"])
    page = client.get(f"/measure/campaigns/{cid}").get_data(as_text=True)
    assert f"/r/{cid}/" in page and 'id="scans">3<' in page


def test_unit_owes_and_reminders_from_first_december(app, runner, world):
    from campaigns.measure.compute import unit_owes
    from campaigns.measure.models import Notice, Plan
    from campaigns.measure.reminders import send_reminders
    from core.models import OrgUnit

    year = world["year"]
    speaker = add_account(app, "loudspeaker", "xa-lac-hoa", {"unit_code": "xa-lac-hoa"})
    d = add_delivery(app, speaker, "Bản tin chưa xác nhận", unit_code="xa-lac-hoa")
    from scheduler.models import Delivery
    from scheduler.states import Status

    with app.app_context(), session_scope(app) as s:
        row = s.get(Delivery, d)
        row.status, row.sent_at = Status.sent, row.scheduled_at
        s.add(row)
    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).one()
        district = s.exec(select(OrgUnit).where(OrgUnit.code == "tx-vinh-chau")).one()
        owed = unit_owes(s, plan, district, today=date(year, 12, 2))
        assert [b.id for b in owed.broadcasts] == [d]  # the commune's slot, below the district
        assert "T10" in [t.code for t in owed.figures]
        assert any(r.task.code == "VI.8c" for r in owed.tasks)
        assert send_reminders(s, plan, date(year, 11, 30)) == []  # not before 1 December
        sent = send_reminders(s, plan, date(year, 12, 1))
        assert any(n.unit_id == district.id for n in sent)
        notice = next(n for n in sent if n.unit_id == district.id)
        assert "T10" in notice.message and "15/12" in notice.message
        assert "unit_officer.tx-vinh-chau@test.local" in notice.emailed_to
        assert send_reminders(s, plan, date(year, 12, 1)) == []  # once per unit per day
    out = runner.invoke(args=["report", "remind", "--date", f"{year}-12-02"])
    assert out.exit_code == 0 and "lời nhắc" in out.output
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(Notice).where(Notice.dedupe_key.like(f"%:{year}-12-02"))).first() is not None


def test_task_progress_and_overdue(app, client, world):
    from campaigns.measure.compute import task_rows
    from campaigns.measure.models import Plan, PlanTask

    year = world["year"]
    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).one()
        task = s.exec(select(PlanTask).where(PlanTask.plan_id == plan.id, PlanTask.code == "IV.2b")).one()
        task_id_, due = task.id, task.due
    r = client.put(f"/api/v1/tasks/{task_id_}/progress", json={"status": "done", "note": "Phát 3 buổi/tuần"},
                   headers=headers(app, "district"))
    assert r.status_code == 200, r.get_json()
    r = client.put(f"/api/v1/tasks/{task_id_}/progress", json={"status": "finished"}, headers=headers(app, "district"))
    assert r.status_code == 422 and "status" in r.get_json()["error"]["fields"]
    with app.app_context(), session_scope(app) as s:
        plan = s.get(Plan, world["plan_id"])
        rows = {(r.task.code, r.unit.code): r.status for r in task_rows(s, plan, today=due + timedelta(days=1))}
        assert rows[("IV.2b", "tx-vinh-chau")] == "done"
        assert rows[("IV.2b", "ke-sach")] == "overdue"
        rows = {(r.task.code, r.unit.code): r.status for r in task_rows(s, plan, today=due - timedelta(days=1))}
        assert rows[("IV.2b", "ke-sach")] == "not_started"
    body = client.get(f"/api/v1/tasks?year={year}", headers=headers(app, "district")).get_json()
    assert {i["unit"] for i in body["items"]} <= {"tx-vinh-chau", "p-vinh-phuoc", "xa-lac-hoa", "xa-vinh-hai"}


def test_computation_and_report_on_both_databases(any_app, monkeypatch):
    """The same activity gives the same figures on SQLite and PostgreSQL."""
    app = any_app
    w = setup_world(app, monkeypatch)
    year = w["year"]
    client = app.test_client()
    hook = add_account(app, "webhook", "ke-sach", {"url": "http://127.0.0.1:9/hook"})
    d = add_delivery(app, hook, "Bài đăng")
    speaker = add_account(app, "loudspeaker", "xa-lac-hoa", {"unit_code": "xa-lac-hoa"})
    b = add_delivery(app, speaker, "Bản tin", unit_code="xa-lac-hoa")
    from scheduler.models import Delivery
    from scheduler.states import Status

    with app.app_context(), session_scope(app) as s:
        row = s.get(Delivery, d)
        row.status, row.sent_at = Status.sent, row.scheduled_at
        s.add(row)
    r = client.post(f"/api/v1/broadcasts/{b}/confirm", json={}, headers=headers(app, "commune"))
    assert r.status_code == 200
    client.post("/y-kien", data={"service": "dat-dai", "satisfaction": "5", "unit": "ke-sach"})
    r = client.post("/api/v1/kpi-values", json={"target": "T10", "numerator": 81, "denominator": 100,
                                                 "evidence_url": "https://a.vn/b"},
                    headers=headers(app, "district"))
    assert r.status_code == 201
    res = results_by_code(app, year)
    assert (res["T03"].value, res["T05"].value, res["T12b"].value, res["T10"].value) == (
        round(100 / 17, 1), round(100 / 6, 1), 100.0, 81.0)
    reach = client.get("/api/v1/tasks", headers=headers(app, "reviewer"))
    assert reach.status_code == 200
    r = client.get(f"/api/v1/reports/yearly?year={year}&unit=tx-vinh-chau", headers=headers(app, "reviewer"))
    assert r.status_code == 200 and docx_values(r.data)["T10"] == "81%"
    from campaigns.measure.compute import campaign_reach

    with app.app_context(), session_scope(app) as s:
        assert campaign_reach(s, 1)["scans"] == 0


def test_reminder_job_is_queued_once_a_day_and_runs(app, world):
    from campaigns.measure.models import Notice, Plan
    from campaigns.measure.reminders import JOB_NAME, _job, enqueue_today
    from scheduler.jobs import job_function
    from scheduler.models import BackgroundJob

    assert job_function(JOB_NAME) is _job  # registered at start-up
    year = world["year"]
    day = date(year, 12, 3)
    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).one()
        enqueue_today(s, plan, day)
        enqueue_today(s, plan, day)
        enqueue_today(s, plan, date(year, 11, 3))  # outside the reminder period: nothing
    with app.app_context(), session_scope(app) as s:
        jobs = s.exec(select(BackgroundJob).where(BackgroundJob.name == JOB_NAME)).all()
        assert len(jobs) == 1 and jobs[0].payload == {"year": year, "day": day.isoformat()}
    result = _job(app, jobs[0].payload, lambda *a, **k: True)
    assert result["notices"] >= 17  # every department and district owes its figures
    with app.app_context(), session_scope(app) as s:
        assert len(s.exec(select(Notice).where(Notice.year == year)).all()) == result["notices"]


class _FakeSmtp:
    """A loopback SMTP server speaking just enough of RFC 5321 to take one message."""

    def __init__(self):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.messages: list[bytes] = []
        self.rcpt: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.sock.accept()
        f = conn.makefile("rb")
        conn.sendall(b"220 fake ESMTP\r\n")
        while True:
            line = f.readline()
            if not line:
                break
            cmd = line.strip().upper()
            if cmd.startswith((b"EHLO", b"HELO")):
                conn.sendall(b"250 fake\r\n")
            elif cmd.startswith(b"RCPT"):
                self.rcpt.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                conn.sendall(b"250 ok\r\n")
            elif cmd == b"DATA":
                conn.sendall(b"354 go\r\n")
                body = b""
                while (chunk := f.readline()) not in (b".\r\n", b""):
                    body += chunk
                self.messages.append(body)
                conn.sendall(b"250 queued\r\n")
            elif cmd == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            else:
                conn.sendall(b"250 ok\r\n")
        conn.close()
        self.sock.close()


def test_reminder_is_mailed_through_smtp(app, world):
    from email import message_from_bytes, policy

    from campaigns.measure.models import Plan
    from campaigns.measure.reminders import send_mail

    smtp = _FakeSmtp()
    app.config["LANTOA_SMTP_URL"] = f"smtp://127.0.0.1:{smtp.port}"
    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == world["year"])).one()
        assert send_mail(["huyen@example.vn"], f"[Lan Tỏa] Nhắc việc báo cáo năm {plan.year}",
                         "Thị xã Vĩnh Châu còn 1 chỉ tiêu chưa nhập số liệu (T10).")
    smtp.thread.join(timeout=5)
    assert smtp.rcpt == ["huyen@example.vn"]
    msg = message_from_bytes(smtp.messages[0], policy=policy.default)
    assert msg["Subject"] == f"[Lan Tỏa] Nhắc việc báo cáo năm {world['year']}"
    assert "T10" in msg.get_content()
