"""Scoping (a unit enters figures only for itself; another unit's data is 404) and
bad input on figures, evidence, targets and plans: clear errors, nothing lost."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import login
from tests.measure_helpers import (
    PDF,
    figure_form,
    headers,
    pdf_file,
    plan_doc,
    setup_world,
    target_id,
)


@pytest.fixture
def world(app, monkeypatch):
    return setup_world(app, monkeypatch)


def figures(app):
    from campaigns.measure.models import KpiValue

    with app.app_context(), session_scope(app) as s:
        return s.exec(select(KpiValue)).all()


def post_figure(client, app, who, **data):
    body = {"target": "T10", "numerator": 82, "denominator": 100, "as_of": None,
            "evidence_url": "https://dvc.example/bc"}
    body.update(data)
    if body["as_of"] is None:
        body["as_of"] = figure_form()["as_of"]
    return client.post("/api/v1/kpi-values", json=body, headers=headers(app, who))


def test_unit_enters_figures_only_for_itself(app, client, world):
    r = post_figure(client, app, "district")  # no unit: the caller's own
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["unit"] == "tx-vinh-chau" and r.get_json()["value"] == 82
    r = post_figure(client, app, "district", unit="xa-lac-hoa")  # visible (its commune) but not its own
    assert r.status_code == 403 and "đơn vị của mình" in r.get_json()["error"]["message"]
    r = post_figure(client, app, "district", unit="ke-sach")  # another district: hidden
    assert r.status_code == 404
    r = post_figure(client, app, "commune", unit="tx-vinh-chau")  # the commune cannot see its district
    assert r.status_code == 404
    r = post_figure(client, app, "communicator", unit="tx-vinh-chau")
    assert r.status_code == 403
    r = post_figure(client, app, "admin", unit="ke-sach")  # admin: any unit
    assert r.status_code == 201
    assert sorted(f.unit_id for f in figures(app)) == sorted([world["units"]["tx-vinh-chau"],
                                                              world["units"]["ke-sach"]])
    listed = client.get("/api/v1/kpi-values", headers=headers(app, "district")).get_json()
    assert [i["unit"] for i in listed["items"]] == ["tx-vinh-chau"]
    assert client.get("/api/v1/kpi-values", headers=headers(app, "reviewer")).get_json()["total"] == 2


def test_web_scoping_of_unit_pages(app, world):
    district, commune = app.test_client(), app.test_client()
    login(district, world["users"]["district"])
    login(commune, world["users"]["commune"])
    t10 = target_id(app, world["year"], "T10")
    assert district.get("/measure").status_code == 302  # unit officers land on their unit
    assert district.get("/measure/units/tx-vinh-chau").status_code == 200
    page = district.get("/measure/units/xa-lac-hoa")
    assert page.status_code == 200 and "Nhập số liệu" not in page.get_data(as_text=True)  # read only
    assert district.get("/measure/units/ke-sach").status_code == 404
    assert commune.get("/measure/units/tx-vinh-chau").status_code == 404
    assert district.get(f"/measure/units/xa-lac-hoa/figures/{t10}").status_code == 403
    r = district.post(f"/measure/units/ke-sach/figures/{t10}", data=figure_form(evidence_url="https://a.vn"))
    assert r.status_code == 404
    assert figures(app) == []
    assert district.get("/measure/report/download?unit=ke-sach").status_code == 404
    assert district.get(f"/measure/chart/{t10}.png?unit=ke-sach").status_code == 404


@pytest.mark.parametrize("data, field, message", [
    ({"target": "T06", "value": 150}, "value", "0–100"),  # T06 is entered as a percentage only
    ({"target": "T06", "value": -1}, "value", "0–100"),
    ({"target": "T06", "value": "nhiều"}, "value", "không phải là số"),
    ({"target": "T06", "value": None}, "value", "nhập số liệu"),
    ({"numerator": 150}, "numerator", "không được lớn hơn mẫu số"),  # T10: counts
    ({"numerator": -1}, "numerator", "số nguyên không âm"),
    ({"numerator": "nhiều"}, "numerator", "số nguyên không âm"),
    ({"numerator": None}, "numerator", "nhập số đếm"),
    ({"denominator": 0}, "denominator", "lớn hơn 0"),
    ({"as_of": "2999-01-01"}, "as_of", "tương lai"),
    ({"as_of": "31/02/2025"}, "as_of", "dd/mm/yyyy"),
    ({"evidence_url": None}, "evidence_url", "minh chứng"),
    ({"evidence_url": "javascript:alert(1)"}, "evidence_url", "http://"),
    ({"target": "T03"}, "target", "tự tính"),
    ({"target": "T99"}, "target", "Không có chỉ tiêu"),
])
def test_bad_figures_are_refused(app, client, world, data, field, message):
    r = post_figure(client, app, "district", **data)
    assert r.status_code == 422, r.get_json()
    assert message in r.get_json()["error"]["fields"][field]
    assert figures(app) == []


def test_future_date_is_refused_even_within_the_year(app, client, world):
    from campaigns.measure.compute import local_today

    tomorrow = local_today() + timedelta(days=1)
    r = post_figure(client, app, "district", as_of=tomorrow.isoformat())
    assert r.status_code == 422
    assert "tương lai" in r.get_json()["error"]["fields"]["as_of"]


@pytest.mark.parametrize("name, data, status, message", [
    ("virus.exe", b"MZ\x90\x00", 422, "PDF, ảnh"),
    ("bao-cao.pdf", b"not a pdf at all", 422, "không đúng định dạng PDF"),
    ("anh.png", b"GIF89a....", 422, "không đúng định dạng PNG"),
    ("lon.pdf", PDF + b"0" * 30_000, 413, "tối đa"),
    ("rong.pdf", b"", 422, "rỗng"),
])
def test_bad_attachments_are_refused_and_the_form_keeps_its_values(app, world, name, data, status, message):
    app.config["LANTOA_EVIDENCE_MAX_MB"] = 0.02  # ~20 KB for the test
    district = app.test_client()
    login(district, world["users"]["district"])
    t10 = target_id(app, world["year"], "T10")
    form = figure_form("77", note="Ghi chú cần giữ lại")
    r = district.post(f"/measure/units/tx-vinh-chau/figures/{t10}",
                      data={**form, "attachment": (io.BytesIO(data), name)}, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == status
    assert message in html
    assert 'value="77"' in html and "Ghi chú cần giữ lại" in html  # nothing typed is lost
    assert figures(app) == []


def test_good_attachments_are_stored_and_served_only_in_scope(app, world):
    district = app.test_client()
    login(district, world["users"]["district"])
    t10 = target_id(app, world["year"], "T10")
    docx = io.BytesIO()
    from docx import Document

    Document().save(docx)
    for name, payload in [("bien-ban.pdf", PDF), ("bien-ban.docx", docx.getvalue())]:
        r = district.post(f"/measure/units/tx-vinh-chau/figures/{t10}",
                          data={**figure_form("81"), "attachment": (io.BytesIO(payload), name)},
                          content_type="multipart/form-data")
        assert r.status_code == 302
    rows = figures(app)
    assert [f.attachment_name for f in rows] == ["bien-ban.pdf", "bien-ban.docx"]
    r = district.get(f"/measure/figures/{rows[0].id}/attachment")
    assert r.status_code == 200 and r.data == PDF
    other = app.test_client()
    login(other, world["users"]["other_district"])
    assert other.get(f"/measure/figures/{rows[0].id}/attachment").status_code == 404
    # the API takes multipart too
    r = app.test_client().post("/api/v1/kpi-values", data={"target": "T10", "numerator": "79", "denominator": "100", **{
        "as_of": figure_form()["as_of"]}, "attachment": pdf_file()}, headers=headers(app, "district"),
        content_type="multipart/form-data")
    assert r.status_code == 201 and r.get_json()["attachment"] == "minh-chung.pdf"


def test_admin_edits_targets_and_loads_plans_without_code(app, client, world):
    t10 = target_id(app, world["year"], "T10")
    assert client.patch(f"/api/v1/targets/{t10}", json={"goal": 85},
                        headers=headers(app, "communicator")).status_code == 403
    r = client.patch(f"/api/v1/targets/{t10}", json={"goal": 150}, headers=headers(app, "admin"))
    assert r.status_code == 422 and "goal" in r.get_json()["error"]["fields"]
    r = client.patch(f"/api/v1/targets/{t10}", json={"goal": 85}, headers=headers(app, "admin"))
    assert r.status_code == 200 and r.get_json()["goal"] == 85
    admin = app.test_client()
    login(admin, world["users"]["admin"])
    import yaml

    bad = yaml.safe_dump(plan_doc(2031) | {"targets": [{"code": "A", "title": "x", "kind": "entered",
                                                        "goal": 300}]}, allow_unicode=True)
    r = admin.post("/measure/plans", data={"file": (io.BytesIO(bad.encode()), "ke-hoach-2031.yaml")},
                   content_type="multipart/form-data")
    assert r.status_code == 422 and "0 đến 100" in r.get_data(as_text=True)
    r = admin.post("/measure/plans", data={"file": (io.BytesIO(b"x"), "ke-hoach.txt")},
                   content_type="multipart/form-data")
    assert r.status_code == 422 and ".yaml" in r.get_data(as_text=True)
    good = yaml.safe_dump(plan_doc(2031), allow_unicode=True)
    r = admin.post("/measure/plans", data={"file": (io.BytesIO(good.encode()), "ke-hoach-2031.yaml")},
                   content_type="multipart/form-data")
    assert r.status_code == 302
    years = [p["year"] for p in client.get("/api/v1/plans", headers=headers(app, "reviewer")).get_json()["items"]]
    assert 2031 in years
    # the web edit form validates too
    r = admin.post(f"/measure/targets/{t10}", data={"goal": "abc", "title": "x"})
    assert r.status_code == 303
    assert client.get(f"/api/v1/targets?year={world['year']}&trend=0",
                      headers=headers(app, "admin")).get_json()["items"][9]["goal"] == 85
