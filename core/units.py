"""The unit tree: subtree queries and import from CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable

from sqlmodel import Session, select

from core.models import OrgUnit, UnitKind

CODE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
UNIT_FIELDS = ("code", "name", "kind", "parent_code", "address", "phone", "office_hours", "portal_url")


def subtree_ids(session: Session, unit_id: int) -> set[int]:
    """The unit and everything below it."""
    rows = session.exec(select(OrgUnit.id, OrgUnit.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for uid, parent in rows:
        children.setdefault(parent, []).append(uid)
    out, stack = set(), [unit_id]
    while stack:
        uid = stack.pop()
        if uid in out:
            continue
        out.add(uid)
        stack.extend(children.get(uid, []))
    return out


def ancestor_ids(session: Session, unit_id: int) -> list[int]:
    parents = dict(session.exec(select(OrgUnit.id, OrgUnit.parent_id)).all())
    out, cur = [], parents.get(unit_id)
    while cur is not None and cur not in out:
        out.append(cur)
        cur = parents.get(cur)
    return out


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


class UnitImportError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def parse_units(raw: bytes, filename: str) -> list[dict]:
    text = raw.decode("utf-8-sig")
    if filename.lower().endswith(".json"):
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("units", [])
        if not isinstance(data, list):
            raise UnitImportError(["Tệp JSON phải là một danh sách đơn vị."])
        return [dict(d) for d in data]
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    return [dict(r) for r in csv.DictReader(io.StringIO(text), delimiter=delimiter)]


def import_units(session: Session, rows: Iterable[dict]) -> tuple[int, int]:
    """Create or update units; parents may come later in the file.

    All-or-nothing: any error raises UnitImportError listing every bad row and
    nothing is written. Returns (created, updated).
    """
    rows = list(rows)
    errors: list[str] = []
    existing = {u.code: u for u in session.exec(select(OrgUnit)).all()}
    codes_in_file: set[str] = set()
    clean: list[dict] = []
    for n, row in enumerate(rows, start=1):
        row = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        code = unicodedata.normalize("NFC", str(row.get("code") or ""))
        name = unicodedata.normalize("NFC", str(row.get("name") or ""))
        kind = str(row.get("kind") or "")
        parent = str(row.get("parent_code") or row.get("parent") or "") or None
        if not CODE_RE.match(code):
            errors.append(f"Dòng {n}: mã đơn vị '{code}' không hợp lệ (chỉ chữ thường, số và '-').")
            continue
        if code in codes_in_file:
            errors.append(f"Dòng {n}: mã '{code}' bị trùng trong tệp.")
            continue
        if not name:
            errors.append(f"Dòng {n}: thiếu tên đơn vị.")
        if kind not in UnitKind.__members__:
            errors.append(f"Dòng {n}: loại đơn vị '{kind}' không hợp lệ.")
        codes_in_file.add(code)
        clean.append({**row, "code": code, "name": name, "kind": kind, "parent_code": parent})
    for row in clean:
        parent = row["parent_code"]
        if parent and parent not in codes_in_file and parent not in existing:
            errors.append(f"Mã đơn vị cấp trên '{parent}' của '{row['code']}' không tồn tại.")
    if errors:
        raise UnitImportError(errors)
    created = updated = 0
    by_code = dict(existing)
    for row in clean:
        unit = by_code.get(row["code"])
        if unit is None:
            unit = OrgUnit(code=row["code"], name=row["name"], kind=UnitKind(row["kind"]))
            created += 1
        else:
            updated += 1
        unit.name = row["name"]
        unit.kind = UnitKind(row["kind"])
        for attr in ("address", "phone", "office_hours", "portal_url"):
            if row.get(attr):
                setattr(unit, attr, unicodedata.normalize("NFC", str(row[attr])))
        session.add(unit)
        by_code[row["code"]] = unit
    session.flush()
    for row in clean:
        parent = row["parent_code"]
        by_code[row["code"]].parent_id = by_code[parent].id if parent else None
    session.flush()
    # Reject cycles introduced by the file.
    parents = {u.id: u.parent_id for u in by_code.values()}
    for uid in parents:
        seen, cur = set(), uid
        while cur is not None:
            if cur in seen:
                session.rollback()
                raise UnitImportError(["Cây đơn vị có vòng lặp (đơn vị là cấp trên của chính nó)."])
            seen.add(cur)
            cur = parents.get(cur)
    return created, updated
