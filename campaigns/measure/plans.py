"""Plans as data: load a plan's targets and tasks from YAML, resolve unit groups.

A plan file (see ``plans/soc-trang-2025.yaml``) holds ``key``, ``province``,
``year``, ``title``, ``deadline``, ``remind_from``, ``weights``, ``targets`` and
``tasks``. Loading is an upsert by code: reloading an edited file updates the
rows, keeps figures and progress already entered, and never deletes a target
that has figures. A loaded file is published at once; :func:`rollover` makes the
next year's plan from a previous one as a draft that an admin edits and publishes.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from campaigns.measure.models import EntryMode, Plan, PlanStatus, PlanTarget, PlanTask, TargetKind
from core.models import OrgUnit, UnitKind
from core.timeutil import utcnow

PLANS_DIR = Path(__file__).parent / "plans"

#: Unit groups usable in ``responsible`` lists.
GROUPS = {
    "@departments": (UnitKind.department,),
    "@districts": (UnitKind.district,),
    #: commune level: xã, phường, đặc khu (since the 2025 reorganisation)
    "@communes": (UnitKind.commune, UnitKind.ward, UnitKind.special_zone),
    "@press": (UnitKind.press,),
    #: the local governments right under the province: districts (three tiers) or,
    #: since districts were abolished (1/7/2025), the commune-level units
    "@localities": (UnitKind.district, UnitKind.commune, UnitKind.ward, UnitKind.special_zone),
    #: "sở, ban, ngành, địa phương": departments + localities
    "@all": (UnitKind.department, UnitKind.district, UnitKind.commune, UnitKind.ward, UnitKind.special_zone),
}
#: groups whose local units count only when they sit right under the province
TOP_LOCAL = ("@localities", "@all")

METRICS = ("units_published", "grassroots_broadcast", "satisfaction", "feedback_handled")


class PlanError(ValueError):
    """A plan file that cannot be loaded; ``errors`` lists every problem (Vietnamese)."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def _nfc(value: Any) -> str:
    return unicodedata.normalize("NFC", str(value)).strip()


def _as_date(value: Any, where: str, errors: list[str]) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors.append(f"{where}: ngày '{value}' không hợp lệ (YYYY-MM-DD).")
        return None


def parse_plan(data: Any) -> dict:
    """Validate a plan document; return clean values or raise PlanError."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise PlanError(["Tệp kế hoạch phải là một đối tượng YAML (key: value)."])
    for field in ("key", "province", "year", "title", "deadline", "targets", "tasks"):
        if field not in data:
            errors.append(f"Thiếu trường '{field}'.")
    if errors:
        raise PlanError(errors)
    year = data["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        errors.append("Trường 'year' phải là năm trong khoảng 2000–2100.")
    deadline = _as_date(data["deadline"], "deadline", errors)
    remind_from = _as_date(data.get("remind_from") or f"{year}-12-01", "remind_from", errors)
    targets, tasks = [], []
    seen: set[str] = set()
    for n, t in enumerate(data.get("targets") or [], start=1):
        where = f"Chỉ tiêu thứ {n}"
        if not isinstance(t, dict):
            errors.append(f"{where}: phải là đối tượng.")
            continue
        code = _nfc(t.get("code", ""))
        if not code or code in seen:
            errors.append(f"{where}: mã '{code}' trống hoặc bị trùng.")
        seen.add(code)
        kind = t.get("kind")
        if kind not in TargetKind.__members__:
            errors.append(f"{where} ({code}): loại '{kind}' không hợp lệ (measured hoặc entered).")
        metric = t.get("metric")
        if kind == "measured" and metric not in METRICS:
            errors.append(f"{where} ({code}): chỉ số đo '{metric}' không có; chọn một trong {', '.join(METRICS)}.")
        goal = t.get("goal")
        if isinstance(goal, bool) or not isinstance(goal, int | float) or not 0 <= goal <= 100:
            errors.append(f"{where} ({code}): mục tiêu phải là số từ 0 đến 100 (%).")
        if not _nfc(t.get("title", "")):
            errors.append(f"{where} ({code}): thiếu nội dung chỉ tiêu.")
        options = dict(t.get("options") or {})
        entry = t.get("entry") or EntryMode.percent
        if kind == "entered" and entry not in EntryMode.__members__:
            errors.append(f"{where} ({code}): cách nhập '{entry}' không hợp lệ (counts hoặc percent).")
        if kind == "entered" and entry == EntryMode.counts:
            for part, label in (("numerator", "tử số"), ("denominator", "mẫu số")):
                if not _nfc(t.get(part, "")):
                    errors.append(f"{where} ({code}): chỉ tiêu nhập theo số đếm cần mô tả {label} ('{part}').")
                options[part] = _nfc(t.get(part, ""))
        due_year = t.get("due_year") or year
        baseline, baseline_year = t.get("baseline"), t.get("baseline_year")
        if baseline is not None or baseline_year is not None:
            if isinstance(baseline, bool) or not isinstance(baseline, int | float) or not 0 <= baseline <= 100:
                errors.append(f"{where} ({code}): giá trị gốc ('baseline') phải là số từ 0 đến 100 (%).")
            if (isinstance(baseline_year, bool) or not isinstance(baseline_year, int)
                    or not isinstance(due_year, int) or not 2000 <= baseline_year < due_year):
                errors.append(f"{where} ({code}): năm gốc ('baseline_year') phải là năm trước năm đến hạn.")
        targets.append({
            "code": code, "section": _nfc(t.get("section", "")), "title": _nfc(t.get("title", "")),
            "kind": kind, "metric": metric if kind == "measured" else None,
            "options": options, "goal": float(goal) if isinstance(goal, int | float) else 0,
            "unit": "%", "due_year": int(due_year) if isinstance(due_year, int) else year,
            "responsible": [_nfc(c) for c in (t.get("responsible") or [])], "position": n,
            "entry": str(entry) if kind == "entered" else EntryMode.percent,
            "baseline": float(baseline) if isinstance(baseline, int | float) else None,
            "baseline_year": baseline_year if isinstance(baseline_year, int) else None,
        })
    weights: dict[str, float] = {}
    raw_weights = data.get("weights") or {}
    if not isinstance(raw_weights, dict):
        errors.append("Trường 'weights' phải là bảng mã đơn vị: trọng số.")
        raw_weights = {}
    for code, w in raw_weights.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or w <= 0:
            errors.append(f"Trọng số của đơn vị '{code}' phải là số dương.")
        else:
            weights[_nfc(code)] = float(w)
    seen = set()
    for n, t in enumerate(data.get("tasks") or [], start=1):
        where = f"Nhiệm vụ thứ {n}"
        if not isinstance(t, dict):
            errors.append(f"{where}: phải là đối tượng.")
            continue
        code = _nfc(t.get("code", ""))
        if not code or code in seen:
            errors.append(f"{where}: mã '{code}' trống hoặc bị trùng.")
        seen.add(code)
        due = _as_date(t.get("due") or deadline, f"{where} ({code})", errors)
        if not _nfc(t.get("title", "")):
            errors.append(f"{where} ({code}): thiếu nội dung nhiệm vụ.")
        tasks.append({"code": code, "section": _nfc(t.get("section", "")), "title": _nfc(t.get("title", "")),
                      "due": due, "responsible": [_nfc(c) for c in (t.get("responsible") or [])],
                      "position": n})
    if errors:
        raise PlanError(errors)
    return {"key": _nfc(data["key"]), "province_code": _nfc(data["province"]), "year": year,
            "title": _nfc(data["title"]), "basis": _nfc(data.get("basis", "")),
            "report_to": _nfc(data.get("report_to", "")), "deadline": deadline,
            "remind_from": remind_from, "weights": weights, "targets": targets, "tasks": tasks}


def _check_units(session: Session, clean: dict) -> None:
    codes = set(session.exec(select(OrgUnit.code)).all())
    missing = set()
    for row in clean["targets"] + clean["tasks"]:
        for c in row["responsible"]:
            if not c.startswith("@") and c not in codes:
                missing.add(c)
            if c.startswith("@") and c not in GROUPS:
                raise PlanError([f"Nhóm đơn vị '{c}' không có; dùng {', '.join(GROUPS)}."])
    for code in clean.get("weights") or {}:
        if code not in codes:
            missing.add(code)
    if missing:
        raise PlanError([f"Không có đơn vị mã: {', '.join(sorted(missing))}."])
    check_weights(session, clean["targets"], clean.get("weights") or {})


def check_weights(session: Session, targets: list, weights: dict) -> None:
    """Every unit owing a percent-only target needs a weight (the province value is a
    weighted mean, never a plain one)."""
    errors = []
    units = list(session.exec(select(OrgUnit)).all())
    for t in targets:
        row = t if isinstance(t, dict) else _copy(t) | {"code": t.code}
        if row["kind"] != TargetKind.entered or row.get("entry", EntryMode.percent) != EntryMode.percent:
            continue
        lacking = [u.code for u in resolve_units(session, row["responsible"], units) if u.code not in weights]
        if lacking:
            errors.append(f"Chỉ tiêu {row['code']} chỉ nhập tỷ lệ: thiếu trọng số ('weights') cho đơn vị "
                          f"{', '.join(lacking)}.")
    if errors:
        raise PlanError(errors)


def load_plan(session: Session, source: str | Path | bytes | dict, *, check_units: bool = True) -> Plan:
    """Create or update a plan from a YAML file, YAML bytes or a dict."""
    name = ""
    if isinstance(source, dict):
        data = source
    else:
        if isinstance(source, bytes):
            raw = source.decode("utf-8-sig")
        else:
            name = str(source)
            raw = Path(source).read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise PlanError([f"Tệp YAML không đọc được: {str(exc)[:200]}"]) from None
    clean = parse_plan(data)
    if check_units:
        _check_units(session, clean)
    plan = session.exec(select(Plan).where(Plan.key == clean["key"])).first()
    if plan is None:
        plan = Plan(key=clean["key"], province_code=clean["province_code"], year=clean["year"],
                    title=clean["title"], deadline=clean["deadline"], remind_from=clean["remind_from"])
    for attr in ("province_code", "year", "title", "basis", "report_to", "deadline", "remind_from", "weights"):
        setattr(plan, attr, clean[attr])
    plan.status = PlanStatus.published
    plan.source = name[-300:]
    plan.loaded_at = utcnow()
    session.add(plan)
    session.flush()
    existing = {t.code: t for t in session.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)).all()}
    for row in clean["targets"]:
        target = existing.get(row["code"]) or PlanTarget(plan_id=plan.id, **row)
        for key, value in row.items():
            setattr(target, key, value)
        session.add(target)
    existing_tasks = {t.code: t for t in session.exec(select(PlanTask).where(PlanTask.plan_id == plan.id)).all()}
    for row in clean["tasks"]:
        task = existing_tasks.get(row["code"]) or PlanTask(plan_id=plan.id, **row)
        for key, value in row.items():
            setattr(task, key, value)
        session.add(task)
    session.flush()
    return plan


def ensure_default_plans(session: Session) -> list[Plan]:
    """Load every bundled plan file whose key is not in the database yet."""
    out = []
    for path in sorted(PLANS_DIR.glob("*.yaml")):
        key = path.stem
        plan = session.exec(select(Plan).where(Plan.key == key)).first()
        if plan is None:
            try:
                plan = load_plan(session, path)
            except PlanError:
                continue  # units not imported yet: load later
        out.append(plan)
    return out


def plan_for_year(session: Session, year: int, province_code: str | None = None, *,
                  drafts: bool = False) -> Plan | None:
    """The published plan for ``year`` (``drafts=True``: a draft too, published first)."""
    query = select(Plan).where(Plan.year == year)
    if not drafts:
        query = query.where(Plan.status == PlanStatus.published)
    if province_code:
        query = query.where(Plan.province_code == province_code)
    plans = session.exec(query.order_by(Plan.id)).all()
    plans = sorted(plans, key=lambda p: p.status != PlanStatus.published)
    return plans[0] if plans else None


def plan_years(session: Session, *, drafts: bool = False) -> list[int]:
    """Years that have a published plan (``drafts=True``: any plan)."""
    query = select(Plan.year)
    if not drafts:
        query = query.where(Plan.status == PlanStatus.published)
    return sorted(set(session.exec(query).all()))


def rollover_source(session: Session, year: int) -> Plan | None:
    """The plan a new plan for ``year`` would be made from: the latest year before it."""
    years = [y for y in plan_years(session, drafts=True) if y < year]
    return plan_for_year(session, years[-1], drafts=True) if years else None


def shift_year(day: date, years: int) -> date:
    """The same day ``years`` later; 29/2 becomes 28/2 in a year that has none."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def rollover(session: Session, from_year: int, to_year: int, *, publish: bool = False,
             province_code: str | None = None) -> Plan:
    """Copy the plan of ``from_year`` into a new plan for ``to_year`` (a draft unless
    ``publish``): targets, tasks and their units; dates moved by the years between."""
    errors = []
    for year in (from_year, to_year):
        if not 2000 <= year <= 2100:
            errors.append(f"Năm {year} không hợp lệ (2000–2100).")
    if to_year <= from_year:
        errors.append("Năm mới phải sau năm của kế hoạch gốc.")
    if errors:
        raise PlanError(errors)
    source = plan_for_year(session, from_year, province_code, drafts=True)
    if source is None:
        raise PlanError([f"Không có kế hoạch năm {from_year} để sao chép."])
    existing = plan_for_year(session, to_year, source.province_code, drafts=True)
    if existing is not None:
        state = "bản nháp" if existing.status == PlanStatus.draft else "đã ban hành"
        raise PlanError([f"Đã có kế hoạch năm {to_year} ({existing.key}, {state}); không tạo thêm."])
    delta = to_year - from_year
    suffix = f"-{from_year}"
    key = (source.key[: -len(suffix)] if source.key.endswith(suffix) else source.key) + f"-{to_year}"
    if session.exec(select(Plan.id).where(Plan.key == key)).first() is not None:
        raise PlanError([f"Mã kế hoạch '{key}' đã được dùng."])
    plan = Plan(key=key, province_code=source.province_code, year=to_year, title=source.title,
                basis=source.basis, report_to=source.report_to, deadline=shift_year(source.deadline, delta),
                remind_from=shift_year(source.remind_from, delta), source=f"rollover:{source.key}",
                loaded_at=utcnow(), weights=dict(source.weights or {}),
                status=PlanStatus.published if publish else PlanStatus.draft)
    session.add(plan)
    session.flush()
    for t in session.exec(select(PlanTarget).where(PlanTarget.plan_id == source.id)).all():
        row = _copy(t)
        if row["due_year"] == from_year:
            row["due_year"] = to_year
        row["options"] = dict(row["options"] or {})
        row["responsible"] = list(row["responsible"] or [])
        session.add(PlanTarget(plan_id=plan.id, **row))
    for t in session.exec(select(PlanTask).where(PlanTask.plan_id == source.id)).all():
        row = _copy(t)
        row["due"] = shift_year(t.due, delta)
        row["responsible"] = list(row["responsible"] or [])
        session.add(PlanTask(plan_id=plan.id, **row))
    session.flush()
    return plan


def _copy(row: PlanTarget | PlanTask) -> dict:
    """A row's column values except its ids (for a copy in another plan)."""
    return {c.name: getattr(row, c.name) for c in row.__table__.columns  # type: ignore[attr-defined]
            if c.name not in ("id", "plan_id")}


def publish(session: Session, plan: Plan) -> Plan:
    plan.status = PlanStatus.published
    session.add(plan)
    session.flush()
    return plan


def resolve_units(session: Session, codes: list[str], units: list[OrgUnit] | None = None) -> list[OrgUnit]:
    """Unit codes and groups -> units (ordered, no duplicates)."""
    units = units if units is not None else list(session.exec(select(OrgUnit)).all())
    by_code = {u.code: u for u in units}
    kind_of = {u.id: u.kind for u in units}
    out: dict[int, OrgUnit] = {}
    for code in codes:
        if code in GROUPS:
            for u in sorted(units, key=lambda u: u.name):
                if u.kind not in GROUPS[code]:
                    continue
                if (code in TOP_LOCAL and u.kind != UnitKind.department
                        and kind_of.get(u.parent_id) != UnitKind.province):  # type: ignore[arg-type]
                    continue  # a commune under a district is counted through its district
                out.setdefault(u.id, u)
        elif code in by_code:
            out.setdefault(by_code[code].id, by_code[code])
    return list(out.values())
