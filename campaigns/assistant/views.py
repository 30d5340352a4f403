"""Web pages of the assistant: the knowledge base (list, edit, approve), the handoff inbox
(reply, make a knowledge-base entry in one click) and the public widget endpoint on /y-kien.

Communicators and admins own the knowledge base; reviewers may approve; a unit officer sees
the inbox of their own unit's subtree and replies there.
"""

from __future__ import annotations

import unicodedata

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlmodel import select

from campaigns.assistant import engine, kb
from campaigns.assistant.models import AssistantQuestion, KbEntry
from core.auth import actor, role_required, visible_unit_ids
from core.db import get_session
from core.extensions import csrf, limiter
from core.models import OrgUnit, Role, audit
from core.timeutil import utcnow

bp = Blueprint("assistant", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/assistant")

KB_EDITORS = (Role.communicator,)
KB_APPROVERS = (Role.communicator, Role.reviewer)
STAFF = (Role.communicator, Role.reviewer, Role.unit_officer)
STATUS_LABELS = {"draft": lazy_gettext("Nháp"), "approved": lazy_gettext("Đã duyệt")}
QUESTION_STATUS = {"answered": lazy_gettext("Đã tự trả lời"), "open": lazy_gettext("Chờ trả lời"),
                   "replied": lazy_gettext("Đã trả lời"), "closed": lazy_gettext("Đã đóng")}
CHANNEL_LABELS = {"web": lazy_gettext("Trang góp ý"), "api": "API", "zalo": "Zalo OA", "messenger": "Messenger"}


def _widget_limit() -> str:
    return engine._conf("ASSISTANT_RATE_LIMIT", "10 per minute;200 per day")


def _units() -> dict[str, str]:
    return {u.code: u.name for u in get_session().exec(select(OrgUnit)).all()}


# -- knowledge base ----------------------------------------------------------------------------


@bp.route("/tro-ly/kien-thuc")
@role_required(Role.communicator, Role.reviewer)
def kb_list():
    session = get_session()
    status = request.args.get("status", "")
    query = select(KbEntry).order_by(KbEntry.key)
    if status in STATUS_LABELS:
        query = query.where(KbEntry.status == status)
    entries = session.exec(query).all()
    return render_template("assistant/kb_list.html", entries=entries, status=status, labels=STATUS_LABELS,
                           units=_units(), today=engine.today_local())


def _form_to_raw(form, key: str) -> dict:
    return {"key": key, "questions": form.get("questions", ""), "answer": form.get("answer", ""),
            "answer_km": form.get("answer_km", ""), "links": form.get("links", ""), "unit": form.get("unit", ""),
            "valid_from": form.get("valid_from", ""), "valid_to": form.get("valid_to", ""), "status": "draft"}


@bp.route("/tro-ly/kien-thuc/<int:entry_id>", methods=["GET", "POST"])
@role_required(Role.communicator, Role.reviewer)
def kb_edit(entry_id: int):
    if request.method == "POST" and actor().role not in (Role.admin, Role.communicator):
        abort(403)  # reviewers read and approve; only communicators edit
    session = get_session()
    entry = session.get(KbEntry, entry_id)
    if entry is None:
        abort(404)
    errors: dict[str, str] = {}
    form = {"questions": "\n".join(entry.questions or []), "answer": entry.answer, "answer_km": entry.answer_km or "",
            "links": "\n".join(entry.links or []), "unit": entry.unit_code or "",
            "valid_from": entry.valid_from.isoformat() if entry.valid_from else "",
            "valid_to": entry.valid_to.isoformat() if entry.valid_to else ""}
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in form}
        try:
            clean = kb.clean_entry(_form_to_raw(request.form, entry.key))
        except kb.KbError as exc:
            errors = exc.fields
        else:
            if clean["unit_code"] and clean["unit_code"] not in _units():
                errors["unit"] = _("Không tìm thấy đơn vị đã chọn.")
        if not errors:
            before = engine.entry_dict(entry)
            for field in ("questions", "answer", "answer_km", "links", "unit_code", "valid_from", "valid_to"):
                setattr(entry, field, clean[field])
            entry.status = "draft"  # an edited answer is approved again before it answers
            entry.updated_at, entry.updated_by = utcnow(), actor().id
            session.add(entry)
            audit(session, actor().id, "assistant.entry_edit", "assistant_entry", entry.id,
                  before={k: str(v) for k, v in before.items()})
            session.commit()
            flash(_("Đã lưu mục. Mục cần được duyệt lại trước khi dùng để trả lời."), "success")
            return redirect(url_for("assistant.kb_edit", entry_id=entry.id), 303)
    return render_template("assistant/kb_edit.html", entry=entry, form=form, errors=errors, units=_units(),
                           labels=STATUS_LABELS), (422 if errors else 200)


@bp.route("/tro-ly/kien-thuc/<int:entry_id>/duyet", methods=["POST"])
@role_required(*KB_APPROVERS)
def kb_approve(entry_id: int):
    session = get_session()
    entry = session.get(KbEntry, entry_id)
    if entry is None:
        abort(404)
    to = "draft" if request.form.get("to") == "draft" else "approved"
    entry.status, entry.updated_at, entry.updated_by = to, utcnow(), actor().id
    session.add(entry)
    audit(session, actor().id, "assistant.entry_status", "assistant_entry", entry.id, status=to)
    session.commit()
    flash(_("Đã duyệt mục.") if to == "approved" else _("Đã chuyển mục về nháp."), "success")
    return redirect(request.form.get("back") == "list" and url_for("assistant.kb_list")
                    or url_for("assistant.kb_edit", entry_id=entry.id), 303)


# -- handoff inbox -----------------------------------------------------------------------------


def _visible_codes() -> set[str] | None:
    """Unit codes whose handoffs the user sees (None: all)."""
    ids = visible_unit_ids(get_session(), actor())
    if ids is None:
        return None
    session = get_session()
    return {u.code for u in session.exec(select(OrgUnit).where(OrgUnit.id.in_(ids))).all()}  # type: ignore[attr-defined]


def _visible_question(qid: int) -> AssistantQuestion:
    q = get_session().get(AssistantQuestion, qid)
    codes = _visible_codes()
    if q is None or not q.handoff or (codes is not None and q.unit_code not in codes):
        abort(404)
    return q


@bp.route("/tro-ly/hop-thu")
@role_required(*STAFF)
def inbox():
    session = get_session()
    show = request.args.get("xem", "open")
    query = select(AssistantQuestion).where(AssistantQuestion.handoff == True)  # noqa: E712
    if show == "open":
        query = query.where(AssistantQuestion.status == "open")
    codes = _visible_codes()
    if codes is not None:
        query = query.where(AssistantQuestion.unit_code.in_(codes))  # type: ignore[union-attr]
    rows = session.exec(query.order_by(AssistantQuestion.created_at.desc()).limit(200)).all()  # type: ignore[union-attr]
    figures = engine.weekly_figures(session, weeks=4) if codes is None else None
    return render_template("assistant/inbox.html", rows=rows, show=show, units=_units(), figures=figures,
                           status_labels=QUESTION_STATUS, channel_labels=CHANNEL_LABELS,
                           can_make_entry=actor().role in (Role.admin, Role.communicator))


@bp.route("/tro-ly/hop-thu/<int:question_id>/tra-loi", methods=["POST"])
@role_required(*STAFF)
def inbox_reply(question_id: int):
    session = get_session()
    q = _visible_question(question_id)
    text = unicodedata.normalize("NFC", request.form.get("reply", "")).strip()
    if not text or len(text) > kb.ANSWER_MAX:
        flash(_("Câu trả lời không được trống và tối đa %(n)s ký tự.", n=kb.ANSWER_MAX), "error")
        return redirect(url_for("assistant.inbox"), 303)
    from campaigns.assistant import webhooks

    error = webhooks.send_reply(session, q, text)
    q.reply, q.replied_by, q.replied_at = text, actor().id, utcnow()
    q.status, q.reply_error = ("open", error) if error else ("replied", None)
    session.add(q)
    audit(session, actor().id, "assistant.reply", "assistant_question", q.id, channel=q.channel)
    session.commit()
    if error:
        flash(_("Chưa gửi được câu trả lời tới người hỏi: %(e)s", e=error), "error")
    else:
        flash(_("Đã gửi câu trả lời tới người hỏi."), "success")
    return redirect(url_for("assistant.inbox"), 303)


@bp.route("/tro-ly/hop-thu/<int:question_id>/thanh-muc", methods=["POST"])
@role_required(*KB_EDITORS)
def inbox_make_entry(question_id: int):
    """One click: a draft knowledge-base entry from a question answered by a person."""
    session = get_session()
    q = _visible_question(question_id)
    if not q.reply or not q.question:
        flash(_("Chỉ tạo được mục từ câu hỏi đã có câu trả lời."), "error")
        return redirect(url_for("assistant.inbox", xem="all"), 303)
    key = f"hoi-dap-{q.id}"
    entry = session.exec(select(KbEntry).where(KbEntry.key == key)).first()
    if entry is None:
        entry = KbEntry(key=key, questions=[q.question[:kb.QUESTION_MAX]], answer=q.reply, links=[],
                        unit_code=q.unit_code, status="draft", updated_at=utcnow(), updated_by=actor().id)
        session.add(entry)
        session.flush()
        audit(session, actor().id, "assistant.entry_from_question", "assistant_entry", entry.id, question=q.id)
    q.status = "closed"
    session.add(q)
    session.commit()
    flash(_("Đã tạo mục nháp từ câu hỏi; sửa cách hỏi nếu cần rồi duyệt."), "success")
    return redirect(url_for("assistant.kb_edit", entry_id=entry.id), 303)


# -- public widget -----------------------------------------------------------------------------


@bp.route("/y-kien/tro-ly", methods=["POST"])
@csrf.exempt
@limiter.limit(_widget_limit)
def widget_ask():
    """The public widget on the feedback page: JSON or form ``question`` -> the answer."""
    data = request.get_json(silent=True) if request.is_json else request.form
    question = (data or {}).get("question") if isinstance(data, dict) or hasattr(data, "get") else None
    session = get_session()
    try:
        result, _row = engine.ask(session, question, channel="web", lang=request.args.get("lang", "vi"))
    except engine.AskError as exc:
        session.rollback()
        return jsonify({"error": {"code": "validation_error", "message": "Dữ liệu không hợp lệ.",
                                  "fields": exc.fields}}), 422
    session.commit()
    current_app.logger.info("assistant widget question %s handoff=%s", result["question_id"], result["handoff"])
    return jsonify({k: result[k] for k in ("answer", "entry_id", "confidence", "handoff", "links")})
