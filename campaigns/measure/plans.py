"""Plans as data: load a plan's targets and tasks from YAML, resolve unit groups.

A plan file (see ``plans/soc-trang-2025.yaml``) holds ``key``, ``province``,
``year``, ``title``, ``deadline``, ``remind_from``, ``targets`` and ``tasks``.
Loading is an upsert by code: reloading an edited file updates the rows,
keeps figures and progress already entered, and never deletes a target that
has figures.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from campaigns.measure.models import Plan, PlanTarget, PlanTask, TargetKind
from core.models import OrgUnit, UnitKind
from core.timeutil import utcnow

PLANS_DIR = Path(__file__).parent / "plans"

#: Unit groups usable in ``responsible`` lists.
GROUPS = {
    "@departments": (UnitKind.department,),
    "@districts": (UnitKind.district,),
    "@communes": (UnitKind.commune,),
    "@press": (UnitKind.press,),
    "@all": (UnitKind.department, UnitKind.district),
}

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
        targets.append({
            "code": code, "section": _nfc(t.get("section", "")), "title": _nfc(t.get("title", "")),
            "kind": kind, "metric": metric if kind == "measured" else None,
            "options": dict(t.get("options") or {}), "goal": float(goal) if isinstance(goal, int | float) else 0,
            "unit": "%", "due_year": int(t.get("due_year") or year),
            "responsible": [_nfc(c) for c in (t.get("responsible") or [])], "position": n,
        })
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
            "remind_from": remind_from, "targets": targets, "tasks": tasks}


def _check_units(session: Session, clean: dict) -> None:
    codes = set(session.exec(select(OrgUnit.code)).all())
    missing = set()
    for row in clean["targets"] + clean["tasks"]:
        for c in row["responsible"]:
            if not c.startswith("@") and c not in codes:
                missing.add(c)
            if c.startswith("@") and c not in GROUPS:
                raise PlanError([f"Nhóm đơn vị '{c}' không có; dùng {', '.join(GROUPS)}."])
    if missing:
        raise PlanError([f"Không có đơn vị mã: {', '.join(sorted(missing))}."])


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
    for attr in ("province_code", "year", "title", "basis", "report_to", "deadline", "remind_from"):
        setattr(plan, attr, clean[attr])
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


def plan_for_year(session: Session, year: int, province_code: str | None = None) -> Plan | None:
    query = select(Plan).where(Plan.year == year)
    if province_code:
        query = query.where(Plan.province_code == province_code)
    return session.exec(query.order_by(Plan.id)).first()


def plan_years(session: Session) -> list[int]:
    return sorted(set(session.exec(select(Plan.year)).all()))


def resolve_units(session: Session, codes: list[str], units: list[OrgUnit] | None = None) -> list[OrgUnit]:
    """Unit codes and groups -> units (ordered, no duplicates)."""
    units = units if units is not None else list(session.exec(select(OrgUnit)).all())
    by_code = {u.code: u for u in units}
    out: dict[int, OrgUnit] = {}
    for code in codes:
        if code in GROUPS:
            for u in sorted(units, key=lambda u: u.name):
                if u.kind in GROUPS[code]:
                    out.setdefault(u.id, u)
        elif code in by_code:
            out.setdefault(by_code[code].id, by_code[code])
    return list(out.values())
