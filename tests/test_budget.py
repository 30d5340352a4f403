"""The budget (plan section V): an SMS wave costs its real segments × the carrier's price,
prices an admin maintains, lines a unit enters, the finance XLSX from the UI and the CLI."""

from __future__ import annotations

import io

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import login
from tests.measure_helpers import add_account, add_delivery, setup_world


@pytest.fixture
def world(app, monkeypatch):
    return setup_world(app, monkeypatch)


def make_wave(app, unit_code="xa-lac-hoa"):
    """An SMS wave with per-recipient segment counts (a personalised text: 1 to 3 parts)."""
    from scheduler.models import Delivery
    from scheduler.sms.models import SmsMessage, SmsWave
    from scheduler.states import Status

    acc = add_account(app, "sms_partner", unit_code)
    wave = add_delivery(app, acc, "Tin nhắn")
    records = [("viettel", "delivered", 2), ("viettel", "sent", 3), ("viettel", "failed", 1),
               ("mobifone", "delivered", 1), ("vinaphone", "suppressed", 2), ("other", "delivered", 2)]
    with app.app_context(), session_scope(app) as s:
        d = s.get(Delivery, wave)
        d.status = Status.sent
        s.add(d)
        s.add(SmsWave(delivery_id=wave, text="Tin nhắn", segments=2))
        for n, (carrier, status, parts) in enumerate(records):
            s.add(SmsMessage(delivery_id=wave, phone=f"09{n:08d}", carrier=carrier, status=status, segments=parts))
    return wave, records


def test_wave_budget_is_its_segments_times_the_carriers_price(app, world):
    from campaigns.measure import budget as bd

    wave, records = make_wave(app)
    admin = app.test_client()
    login(admin, world["users"]["admin"])
    assert admin.get("/budget/prices").status_code == 200
    r = admin.post("/budget/prices", data={"price-sms:viettel": "400", "price-sms:mobifone": "1.250",
                                           "price-sms:other": "500"})
    assert r.status_code == 302
    r = admin.post("/budget/prices", data={"price-sms:viettel": "bốn trăm"})
    assert r.status_code == 422 and "Không phải là số hợp lệ." in r.get_data(as_text=True)
    with app.app_context(), session_scope(app) as s:
        prices = {p.key: p.price for p in s.exec(select(bd.BudgetPrice)).all()}
        assert prices["sms:viettel"] == 400 and prices["sms:mobifone"] == 1250  # the bad form changed nothing
        estimate, actual = bd.wave_cost(s, wave)
    expect_est = sum(parts * prices[f"sms:{c}"] for c, status, parts in records if status != "suppressed")
    expect_act = sum(parts * prices[f"sms:{c}"] for c, status, parts in records if status in ("sent", "delivered"))
    assert (estimate, actual) == (expect_est, expect_act) == (2 * 400 + 3 * 400 + 1 * 400 + 1250 + 2 * 500,
                                                              2 * 400 + 3 * 400 + 1250 + 2 * 500)
    # a reviewer sees the prices but cannot change them
    reviewer = app.test_client()
    login(reviewer, world["users"]["reviewer"])
    assert reviewer.get("/budget/prices").status_code == 200
    assert reviewer.post("/budget/prices", data={"price-sms:viettel": "1"}).status_code == 403


def test_unit_lines_xlsx_from_ui_and_cli(app, runner, world, tmp_path):
    from openpyxl import load_workbook

    from campaigns.measure import budget as bd

    wave, _records = make_wave(app)
    year = world["year"]
    commune = app.test_client()
    login(commune, world["users"]["commune"])
    page = commune.get(f"/budget?year={year}")
    assert page.status_code == 200 and "Tin nhắn SMS qua Viettel" in page.get_data(as_text=True)
    from campaigns.models import Campaign

    with app.app_context(), session_scope(app) as s:
        campaign = s.exec(select(Campaign)).one()
        campaign_id, campaign_title = campaign.id, campaign.title
    r = commune.post(f"/budget/lines?year={year}&unit=xa-lac-hoa", data={
        "category": "events", "label": "Giải thưởng hội thi", "unit_label": "giải", "quantity": "3",
        "unit_price": "1.500.000", "actual": "4.000.000", "source": "Ngân sách xã", "campaign": str(campaign_id)})
    assert r.status_code == 302
    r = commune.post(f"/budget/lines?year={year}&unit=xa-lac-hoa", data={
        "category": "events", "label": "", "quantity": "-1", "unit_price": "x", "campaign": "99999"})
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert "Nhập nội dung khoản chi" in body and "Không phải là số hợp lệ." in body
    assert "Chọn một chiến dịch của năm này." in body
    # another district's officer neither sees nor edits this commune's budget
    other = app.test_client()
    login(other, world["users"]["other_district"])
    assert other.get(f"/budget?year={year}&unit=xa-lac-hoa").status_code == 404
    assert other.post(f"/budget/lines?year={year}&unit=xa-lac-hoa", data={"category": "other"}).status_code == 404
    assert other.get(f"/budget/export.xlsx?year={year}").status_code == 200  # its own (empty) estimate

    r = commune.get(f"/budget/export.xlsx?year={year}")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data)).active
    header = [c.value for c in ws[3]]
    for col in ("Nội dung chi", "Số lượng", "Đơn giá", "Thành tiền (dự toán)", "Nguồn kinh phí"):
        assert col in header
    rows = [dict(zip(header, [c.value for c in row], strict=True)) for row in ws.iter_rows(min_row=4)]
    prize = next(r for r in rows if r["Nội dung chi"] == "Giải thưởng hội thi")
    assert (prize["Số lượng"], prize["Đơn giá"], prize["Thành tiền (dự toán)"], prize["Thực chi"],
            prize["Nguồn kinh phí"], prize["Chiến dịch"]) == (3, 1500000, 4500000, 4000000, "Ngân sách xã",
                                                                campaign_title)
    viettel = next(r for r in rows if r["Nội dung chi"] == "* Tin nhắn SMS qua Viettel")
    assert viettel["Số lượng"] == 2 + 3 + 1 and viettel["Thành tiền (dự toán)"] == 6 * viettel["Đơn giá"]
    total = next(r for r in rows if r["Khoản mục"] == "Tổng cộng")
    assert total["Thành tiền (dự toán)"] == sum(r["Thành tiền (dự toán)"] for r in rows if r["STT"])

    out = tmp_path / "du-toan.xlsx"
    result = runner.invoke(args=["budget", "export", "--year", str(year), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ws = load_workbook(out).active
    assert "toàn tỉnh" in ws["A1"].value
    labels = [row[2].value for row in ws.iter_rows(min_row=4)]
    assert "Giải thưởng hội thi" in labels and "* Tin nhắn SMS qua Viettel" in labels
    result = runner.invoke(args=["budget", "export", "--year", str(year), "--unit", "khong-co",
                                 "--out", str(tmp_path / "x.xlsx")])
    assert result.exit_code != 0 and "khong-co" in result.output and not (tmp_path / "x.xlsx").exists()
    # the line is the commune's; deleting it is the commune's too
    with app.app_context(), session_scope(app) as s:
        line_id = s.exec(select(bd.BudgetLine.id)).one()
    assert other.post(f"/budget/lines/{line_id}/delete").status_code == 404
    assert commune.post(f"/budget/lines/{line_id}/delete").status_code == 302
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(bd.BudgetLine)).all() == []
