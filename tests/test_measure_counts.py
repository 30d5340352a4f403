"""Honest province figures: counts summed, percentages weighted, coverage before "Đạt",
publications outside Lan Tỏa, and the rows behind every figure."""

from __future__ import annotations

import io
import re

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import login
from tests.measure_helpers import figure_form, plan_doc, results_by_code, setup_world, target_id


@pytest.fixture
def world(app, monkeypatch):
    return setup_world(app, monkeypatch)


def _row(html: str, code: str) -> str:
    """The dashboard's table row of a target."""
    match = re.search(rf'<tr id="t-{code}".*?</tr>', html, re.S)
    assert match, code
    return match.group(0)


def _verdict(row_html: str) -> str:
    return re.search(r'class="verdict[^"]*">([^<]*)<', row_html).group(1).strip()


def _enter_counts(app, world, code: str, counts: dict[str, tuple[int, int]]):
    from campaigns.measure import entries
    from campaigns.measure.compute import local_today
    from campaigns.measure.models import PlanTarget
    from core.models import OrgUnit, User

    year = world["year"]
    with app.app_context(), session_scope(app) as s:
        target = s.get(PlanTarget, target_id(app, year, code))
        admin = s.get(User, world["users"]["admin"].id)
        for unit_code, (num, den) in counts.items():
            unit = s.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).one()
            entries.enter_figure(s, admin, target, unit,
                                 {"numerator": num, "denominator": den, "evidence_url": "https://dvc.example/x"},
                                 year=year, today=local_today())


def test_counts_of_some_units_sum_over_sum_with_coverage_and_no_dat(app, world):
    year = world["year"]
    admin = app.test_client()
    login(admin, world["users"]["admin"])
    # T10 is owed by Sở KH&CN and the 11 districts (12 units); three of them report
    counts = {"tx-vinh-chau": (80, 100), "ke-sach": (45, 50), "so-khcn": (300, 1000)}
    _enter_counts(app, world, "T10", counts)
    res = results_by_code(app, year)["T10"]
    num, den = sum(n for n, _d in counts.values()), sum(d for _n, d in counts.values())
    assert res.value == round(100 * num / den, 1)  # 425 / 1150 = 37 %, not the plain mean of 80, 90, 30
    assert res.value != round((80 + 90 + 30) / 3, 1)
    assert (res.reported, res.owed) == (3, 12) and not res.complete and not res.met
    row = _row(admin.get(f"/measure?year={year}").get_data(as_text=True), "T10")
    assert "3/12 đơn vị đã báo cáo" in row and _verdict(row) == "Chưa đủ số liệu"
    assert "Đạt" not in row
    # a high ratio from a few units is still not "Đạt"
    _enter_counts(app, world, "T10", {"tx-vinh-chau": (100, 100), "ke-sach": (50, 50), "so-khcn": (1000, 1000)})
    row = _row(admin.get(f"/measure?year={year}").get_data(as_text=True), "T10")
    assert 'data-value="100.0"' in row and _verdict(row) == "Chưa đủ số liệu"
    # every unit that owes T10 reports: now the verdict is given
    from campaigns.demo import DISTRICTS

    _enter_counts(app, world, "T10", {code: (9, 10) for code, _n in DISTRICTS} | {"so-khcn": (1000, 1000)})
    res = results_by_code(app, year)["T10"]
    assert res.complete and res.value == round(100 * (9 * 11 + 1000) / (10 * 11 + 1000), 1) and res.met
    row = _row(admin.get(f"/measure?year={year}").get_data(as_text=True), "T10")
    assert "12/12 đơn vị đã báo cáo" in row and _verdict(row) == "Đạt"


def test_counts_through_the_form_and_the_docx_report(app, world):
    year = world["year"]
    district = app.test_client()
    login(district, world["users"]["district"])
    t10 = target_id(app, year, "T10")
    page = district.get(f"/measure/units/tx-vinh-chau/figures/{t10}").get_data(as_text=True)
    assert "Số hồ sơ TTHC được xử lý hoàn toàn trực tuyến" in page and "Tổng số hồ sơ TTHC đã tiếp nhận" in page
    r = district.post(f"/measure/units/tx-vinh-chau/figures/{t10}",
                      data=figure_form("1.234", denominator="2.000", evidence_url="https://a.vn/x"))
    assert r.status_code == 302, r.get_data(as_text=True)
    r = district.post(f"/measure/units/tx-vinh-chau/figures/{t10}",
                      data=figure_form("30", denominator="20", evidence_url="https://a.vn/x"))
    assert r.status_code == 422 and "không được lớn hơn mẫu số" in r.get_data(as_text=True)
    res = results_by_code(app, year)["T10"]
    assert res.value == 61.7 and res.detail == "1/12 đơn vị đã báo cáo; 1.234/2.000"
    reviewer = app.test_client()
    login(reviewer, world["users"]["reviewer"])
    r = reviewer.get(f"/measure/report/download?year={year}")
    from docx import Document

    rows = {}
    for table in Document(io.BytesIO(r.data)).tables:
        for row in table.rows:
            cells = [c.text for c in row.cells]
            rows.setdefault(cells[0], cells)
    assert rows["T10"][3] == "61,7%" and rows["T10"][4] == "Chưa đủ số liệu"
    assert rows["T10"][5].startswith("1/12 đơn vị đã báo cáo")


def test_percent_only_target_is_weighted_by_the_plans_weights(app, world):
    from campaigns.measure.plans import PlanError, load_plan

    year = world["year"]
    doc = plan_doc(year)
    doc["weights"] = {"bao-soc-trang": 3, "dai-ptth-soc-trang": 1}
    with app.app_context(), session_scope(app) as s:
        load_plan(s, doc)
    admin = app.test_client()
    login(admin, world["users"]["admin"])
    t06 = target_id(app, year, "T06")
    for unit, value in (("bao-soc-trang", "90"), ("dai-ptth-soc-trang", "50")):
        r = admin.post(f"/measure/units/{unit}/figures/{t06}", data=figure_form(value, evidence_url="https://b.vn"))
        assert r.status_code == 302, r.get_data(as_text=True)
    res = results_by_code(app, year)["T06"]
    assert res.value == (3 * 90 + 1 * 50) / 4 == 80.0  # a plain mean would say 70
    assert res.complete and "trọng số" in res.detail
    # equal weights, stated in the plan: the mean of the two
    doc["weights"] = {"bao-soc-trang": 1, "dai-ptth-soc-trang": 1}
    with app.app_context(), session_scope(app) as s:
        load_plan(s, doc)
    assert results_by_code(app, year)["T06"].value == 70.0
    # a percent-only target whose units have no weight cannot be loaded
    doc["weights"] = {"bao-soc-trang": 1}
    with app.app_context(), session_scope(app) as s, pytest.raises(PlanError, match="thiếu trọng số"):
        load_plan(s, doc)
    page = admin.get(f"/measure/targets/{t06}/rows").get_data(as_text=True)
    assert "Báo Sóc Trăng" in page and "theo trọng số" in page


def test_outside_publication_moves_t03_with_its_source(app, world):
    from campaigns.measure.models import OutsidePublication

    year = world["year"]
    assert results_by_code(app, year)["T03"].value == 0.0
    district = app.test_client()
    login(district, world["users"]["district"])
    unit_page = district.get(f"/measure/units/tx-vinh-chau?year={year}").get_data(as_text=True)
    assert "Ghi nhận bài đăng ngoài Lan Tỏa" in unit_page
    # missing evidence: refused with a message, nothing stored
    r = district.post(f"/measure/units/tx-vinh-chau/outside?year={year}",
                      data={"kind": "portal", "title": "Hướng dẫn nộp hồ sơ trực tuyến", "url": ""},
                      follow_redirects=True)
    assert "đường dẫn hoặc đính kèm" in r.get_data(as_text=True)
    # another district may not record for this one
    other = app.test_client()
    login(other, world["users"]["other_district"])
    assert other.post("/measure/units/tx-vinh-chau/outside",
                      data={"kind": "portal", "title": "x", "url": "https://a.vn"}).status_code == 404
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(OutsidePublication)).all() == []
    r = district.post(f"/measure/units/tx-vinh-chau/outside?year={year}",
                      data={"kind": "portal", "title": "Hướng dẫn nộp hồ sơ trực tuyến",
                            "url": "https://vinhchau.soctrang.gov.vn/bai-1"})
    assert r.status_code == 302
    res = results_by_code(app, year)["T03"]
    assert res.value == round(100 / 17, 1)
    assert (res.via_lantoa, res.via_outside) == (0, 1)
    assert "0 qua Lan Tỏa, 1 chỉ ngoài Lan Tỏa" in res.detail
    # "other" counts for nothing; a broadcast counts for the communes' T05
    commune = app.test_client()
    login(commune, world["users"]["commune"])
    commune.post("/measure/units/xa-lac-hoa/outside", data={"kind": "other", "title": "Hội nghị", "url": "https://x.vn"})
    commune.post("/measure/units/xa-lac-hoa/outside", data={"kind": "broadcast", "title": "Bản tin loa sáng",
                                                             "url": "https://x.vn/loa"})
    res = results_by_code(app, year)
    assert res["T03"].value == round(100 / 17, 1) and res["T05"].value == round(100 / 6, 1)
    # the dashboard links the figure to the rows behind it, marked by source
    admin = app.test_client()
    login(admin, world["users"]["admin"])
    row = _row(admin.get(f"/measure?year={year}").get_data(as_text=True), "T03")
    link = re.search(r'href="([^"]*/rows[^"]*)"', row).group(1).replace("&amp;", "&")
    assert "qua Lan Tỏa" in row and "Lan Tỏa" in row  # what it counts
    page = admin.get(link).get_data(as_text=True)
    assert "Hướng dẫn nộp hồ sơ trực tuyến" in page and "ngoài Lan Tỏa" in page
    assert "Thị xã Vĩnh Châu" in page
    # and the yearly report's figures say it too
    r = admin.get(f"/measure/report/download?year={year}")
    from docx import Document

    cells = [c.text for t in Document(io.BytesIO(r.data)).tables for row in t.rows for c in row.cells]
    assert any("1 chỉ ngoài Lan Tỏa" in c for c in cells)


def test_rows_behind_an_entered_figure_are_listed_and_scoped(app, world):
    year = world["year"]
    _enter_counts(app, world, "T10", {"tx-vinh-chau": (8, 10), "ke-sach": (5, 10)})
    t10 = target_id(app, year, "T10")
    reviewer = app.test_client()
    login(reviewer, world["users"]["reviewer"])
    page = reviewer.get(f"/measure/targets/{t10}/rows").get_data(as_text=True)
    assert page.count('<tr data-id="') == 2 and "Số liệu mới nhất" in page
    assert page.count("Chưa báo cáo") == 10 and page.count("Đã báo cáo") == 2
    district = app.test_client()
    login(district, world["users"]["district"])
    page = district.get(f"/measure/targets/{t10}/rows").get_data(as_text=True)
    assert page.count('<tr data-id="') == 1 and "Huyện Kế Sách" not in page  # own subtree only
    assert district.get(f"/measure/targets/{t10}/rows?unit=ke-sach").status_code == 404


def test_outside_publications_api_is_scoped_and_counts(app, client, world):
    from tests.measure_helpers import headers

    year = world["year"]
    body = {"kind": "press", "title": "Bài báo về DVCTT", "url": "https://baosoctrang.example/dvctt"}
    r = client.post("/api/v1/outside-publications", json=body, headers=headers(app, "district"))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["unit"] == "tx-vinh-chau" and r.get_json()["source"] == "outside"
    r = client.post("/api/v1/outside-publications", json={**body, "kind": "tv"}, headers=headers(app, "district"))
    assert r.status_code == 422 and "kind" in r.get_json()["error"]["fields"]
    r = client.post("/api/v1/outside-publications", json={**body, "unit": "ke-sach"},
                    headers=headers(app, "district"))
    assert r.status_code == 404
    assert results_by_code(app, year)["T03"].via_outside == 1
    own = client.get(f"/api/v1/outside-publications?year={year}", headers=headers(app, "district")).get_json()
    other = client.get(f"/api/v1/outside-publications?year={year}", headers=headers(app, "other_district")).get_json()
    assert own["total"] == 1 and other["total"] == 0


def test_rollover_counts_and_outside_records_on_both_databases(any_app, monkeypatch):
    """Roll-over, sum/sum, coverage, outside records and the rows page on SQLite and PostgreSQL."""
    from campaigns.measure.plans import rollover

    app = any_app
    w = setup_world(app, monkeypatch)
    year = w["year"] + 1  # the year after: rolled over from this year's plan, published
    with app.app_context(), session_scope(app) as s:
        plan = rollover(s, w["year"], year, publish=True)
        assert plan.deadline.year == year
    admin = app.test_client()
    login(admin, w["users"]["admin"])
    assert f"Tiến độ thực hiện kế hoạch năm {year}" in admin.get(f"/measure?year={year}").get_data(as_text=True)
    _enter_counts(app, w, "T10", {"tx-vinh-chau": (3, 4)})  # this year's plan
    r = admin.post("/measure/units/tx-vinh-chau/outside",
                   data={"kind": "social", "title": "Bài trên trang mạng xã hội", "url": "https://fb.example/p/1"})
    assert r.status_code == 302
    res = results_by_code(app, w["year"])
    assert res["T10"].value == 75.0 and res["T10"].coverage == "1/12 đơn vị đã báo cáo"
    assert res["T03"].via_outside == 1
    assert results_by_code(app, year)["T10"].value is None  # figures belong to their year
    t03 = target_id(app, w["year"], "T03")
    page = admin.get(f"/measure/targets/{t03}/rows").get_data(as_text=True)
    assert "Bài trên trang mạng xã hội" in page
    assert admin.get(f"/measure/report/download?year={year}").status_code == 200


def test_a_bare_percentage_on_a_counts_target_is_not_a_report(app, world):
    """A figure kept from before the target took counts (value only) is shown but not counted."""
    from campaigns.measure.compute import local_today
    from campaigns.measure.models import KpiValue

    year = world["year"]
    _enter_counts(app, world, "T10", {"ke-sach": (5, 10)})
    with app.app_context(), session_scope(app) as s:
        s.add(KpiValue(target_id=target_id(app, year, "T10"), unit_id=world["units"]["tx-vinh-chau"], year=year,
                       value=95.0, as_of=local_today()))
    res = results_by_code(app, year)["T10"]
    assert res.value == 50.0 and res.reported == 1
    assert "1 đơn vị chỉ nhập tỷ lệ, cần nhập lại số đếm" in res.detail
