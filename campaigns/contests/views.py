"""Knowledge contests: the public pages at /thi/<slug> (phone, SMS code, attempt,
score, results) and the officers' pages at /cuoc-thi (contests, rounds, question
bank import, winners' XLSX)."""

from __future__ import annotations

import re
from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlmodel import select

from campaigns.contests import service as cs
from campaigns.contests.models import KINDS, Contest, ContestEntry, ContestQuestion, ContestRound
from core.auth import actor, role_required
from core.db import get_session
from core.extensions import limiter
from core.models import OrgUnit, Role
from core.timeutil import utcnow

bp = Blueprint("contests", __name__, template_folder="templates", static_folder="static",
               static_url_path="/thi/static")

OFFICERS = (Role.communicator,)
READERS = (Role.communicator, Role.reviewer)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,78}$")


def _code_limit() -> str:
    return current_app.config.get("LANTOA_CONTEST_CODE_RATE_LIMIT", "20 per hour")


def _submit_limit() -> str:
    return current_app.config.get("LANTOA_CONTEST_SUBMIT_RATE_LIMIT", "60 per minute")


def _public_contest(slug: str) -> Contest:
    s = get_session()
    contest = s.exec(select(Contest).where(Contest.slug == slug)).first()
    if contest is None or not contest.published:
        abort(404)
    return contest


def _int(value, default=None):
    """An integer a database column can hold (ids, counts), else ``default``."""
    from core.validate import db_int

    try:
        return db_int(str(value).strip())
    except (TypeError, ValueError):
        return default


# -- public pages -------------------------------------------------------------------------


@bp.get("/thi/<slug>")
def public(slug: str):
    s = get_session()
    contest = _public_contest(slug)
    rnd = cs.open_round(s, contest)
    return render_template("contests/public.html", contest=contest, rnd=rnd,
                           rounds=cs.rounds_of(s, contest.id), phone="", error=None)


@bp.post("/thi/<slug>/ma")
@limiter.limit(_code_limit)
def request_code(slug: str):
    s = get_session()
    contest = _public_contest(slug)
    rnd = cs.open_round(s, contest)
    phone = (request.form.get("phone") or "").strip()[:32]
    if rnd is None:
        return render_template("contests/public.html", contest=contest, rnd=None, phone=phone,
                               rounds=cs.rounds_of(s, contest.id), error=_("Hiện không có vòng thi nào đang mở.")), 409
    try:
        cs.send_code(s, contest, rnd, phone)
        s.commit()
    except cs.ContestError as exc:
        s.commit()  # keep a failed send's record
        return render_template("contests/public.html", contest=contest, rnd=rnd, phone=phone,
                               rounds=cs.rounds_of(s, contest.id), error=exc.message), exc.status
    return render_template("contests/verify.html", contest=contest, rnd=rnd, phone=phone, form={},
                           communes=cs.communes(s), error=None)


@bp.post("/thi/<slug>/vao-thi")
@limiter.limit(_code_limit)
def start(slug: str):
    s = get_session()
    contest = _public_contest(slug)
    rnd = cs.open_round(s, contest)
    form = request.form
    phone = (form.get("phone") or "").strip()[:32]
    if rnd is None:
        abort(409)
    unit_id = _int(form.get("unit"))
    error = None
    if unit_id is None:
        error = _("Vui lòng chọn xã/phường nơi bạn sinh sống.")
    else:
        try:
            entry = cs.start_entry(s, contest, rnd, phone, form.get("code", ""), name=form.get("name", ""),
                                   unit_id=unit_id, school=form.get("school", ""))
            s.commit()
            return redirect(url_for("contests.attempt", slug=slug, token=entry.token))
        except cs.ContestError as exc:
            s.rollback()
            error = exc.message
    return render_template("contests/verify.html", contest=contest, rnd=rnd, phone=phone, form=form,
                           communes=cs.communes(s), error=error), 422


def _entry(slug: str, token: str) -> tuple[Contest, ContestEntry, ContestRound]:
    """The entry of ``token`` in the published contest ``slug``: one query."""
    row = get_session().exec(
        select(ContestEntry, ContestRound, Contest)
        .join(ContestRound, ContestRound.id == ContestEntry.round_id)
        .join(Contest, Contest.id == ContestRound.contest_id)
        .where(ContestEntry.token == token, Contest.slug == slug, Contest.published.is_(True))).first()
    if row is None:
        abort(404)
    entry, rnd, contest = row
    return contest, entry, rnd


@bp.get("/thi/<slug>/bai/<token>")
def attempt(slug: str, token: str):
    s = get_session()
    contest, entry, rnd = _entry(slug, token)
    if entry.submitted_at is not None:
        return _result(contest, entry, rnd)
    return render_template("contests/attempt.html", contest=contest, rnd=rnd, entry=entry,
                           questions=cs.public_questions(s, entry), error=None)


@bp.post("/thi/<slug>/bai/<token>")
@limiter.limit(_submit_limit)
def submit(slug: str, token: str):
    s = get_session()
    contest, entry, rnd = _entry(slug, token)
    answers: dict[int, list[int]] = {}
    for qid in entry.question_ids:
        answers[qid] = [i for i in (_int(v) for v in request.form.getlist(f"q{qid}")) if i is not None]
    guess = _int(request.form.get("guess"))
    questions = cs.questions_for(s, entry)
    try:
        cs.submit(s, entry, answers, guess, rnd=rnd, questions=questions)
    except cs.ContestError as exc:
        s.rollback()
        if entry.submitted_at is not None:
            return _result(contest, entry, rnd, status=exc.status, error=exc.message)
        return render_template("contests/attempt.html", contest=contest, rnd=rnd, entry=entry,
                               questions=cs.public_questions(s, entry), error=exc.message), exc.status
    # rendered before the commit, so the page needs no reload of the rows it shows
    page = _result(contest, entry, rnd, questions=questions)
    s.commit()
    return page


def _result(contest, entry, rnd, status: int = 200, error: str | None = None, questions=None):
    s = get_session()
    return render_template("contests/result.html", contest=contest, rnd=rnd, entry=entry,
                           questions=questions if questions is not None else cs.questions_for(s, entry),
                           error=error), status


@bp.get("/thi/<slug>/ket-qua")
def results(slug: str):
    s = get_session()
    contest = _public_contest(slug)
    rounds = cs.rounds_of(s, contest.id)
    number = _int(request.args.get("vong"))
    rnd = next((r for r in rounds if r.number == number), None)
    if rnd is None:
        now = utcnow()
        started = [r for r in rounds if r.opens_at <= now]
        rnd = started[-1] if started else (rounds[0] if rounds else None)
    ranking = cs.ranking(s, rnd) if rnd else []
    units = {u.id: u.name for u in s.exec(select(OrgUnit)).all()}
    return render_template("contests/results.html", contest=contest, rounds=rounds, rnd=rnd,
                           ranking=ranking[:20] if contest.winners_published else [], entrants=len(ranking),
                           per_unit=cs.by_group(s, rnd, "unit") if rnd else [],
                           per_school=cs.by_group(s, rnd, "school") if rnd else [],
                           units=units, mask=cs.mask_phone)


# -- officers' pages ----------------------------------------------------------------------


@bp.route("/cuoc-thi", methods=["GET", "POST"])
@role_required(*READERS)
def index():
    from scheduler.models import ChannelAccount

    s = get_session()
    accounts = s.exec(select(ChannelAccount).where(ChannelAccount.channel.in_(("sms_partner", "sms_kannel")))
                      .order_by(ChannelAccount.name)).all()
    if request.method == "POST":
        me = actor()
        if me.role not in (Role.admin, Role.communicator):
            abort(403)
        f = request.form
        title = (f.get("title") or "").strip()
        slug = (f.get("slug") or "").strip().lower()
        per = _int(f.get("questions_per_attempt"), 10)
        weeks = _int(f.get("weeks"))
        account_id = _int(f.get("sms_account"))
        try:
            first = date.fromisoformat(f.get("first_day") or "")
        except ValueError:
            first = None
        problems = []
        if not title or len(title) > 200:
            problems.append(_("Nhập tên cuộc thi (tối đa 200 ký tự)."))
        if not SLUG.match(slug):
            problems.append(_("Địa chỉ trang thi chỉ gồm chữ thường không dấu, số và dấu gạch ngang (2–79 ký tự)."))
        elif s.exec(select(Contest.id).where(Contest.slug == slug)).first():
            problems.append(_("Địa chỉ trang thi này đã được dùng."))
        if per is None or not 1 <= per <= 100:
            problems.append(_("Số câu hỏi mỗi lượt thi phải từ 1 đến 100."))
        if weeks is None or not 1 <= weeks <= 52:
            problems.append(_("Số vòng thi (tuần) phải từ 1 đến 52."))
        if first is None:
            problems.append(_("Chọn ngày bắt đầu vòng 1."))
        if account_id not in {a.id for a in accounts}:
            problems.append(_("Chọn tài khoản SMS gửi mã xác nhận."))
        if problems:
            for p in problems:
                flash(p, "error")
        else:
            c = Contest(slug=slug, title=title, description=(f.get("description") or "").strip()[:4000],
                        topic=(f.get("topic") or "").strip()[:120], questions_per_attempt=per,
                        sms_account_id=account_id, published=bool(f.get("published")),
                        created_by=me.id, created_at=utcnow())
            s.add(c)
            s.flush()
            cs.weekly_rounds(s, c, first, weeks)
            s.commit()
            flash(_("Đã tạo cuộc thi."), "success")
            return redirect(url_for("contests.detail", contest_id=c.id))
    contests = s.exec(select(Contest).order_by(Contest.id.desc())).all()
    return render_template("contests/index.html", contests=contests, accounts=accounts, form=request.form)


@bp.route("/cuoc-thi/<int:contest_id>", methods=["GET", "POST"])
@role_required(*READERS)
def detail(contest_id: int):
    s = get_session()
    if request.method == "POST" and actor().role not in (Role.admin, Role.communicator):
        abort(403)
    contest = s.get(Contest, contest_id) or abort(404)
    if request.method == "POST":
        action = request.form.get("action")
        if action == "publish":
            contest.published = not contest.published
        elif action == "winners":
            contest.winners_published = not contest.winners_published
        else:
            abort(400)
        s.add(contest)
        s.commit()
        flash(_("Đã lưu."), "success")
        return redirect(url_for("contests.detail", contest_id=contest.id))
    rounds = cs.rounds_of(s, contest.id)
    counts = {r.id: len(cs.ranking(s, r)) for r in rounds}
    return render_template("contests/detail.html", contest=contest, rounds=rounds, counts=counts)


@bp.get("/cuoc-thi/<int:contest_id>/giai-thuong.xlsx")
@role_required(*READERS)
def winners_xlsx(contest_id: int):
    s = get_session()
    contest = s.get(Contest, contest_id) or abort(404)
    data = cs.winners_xlsx(s, contest)
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="giai-thuong-{contest.slug}.xlsx"'})


@bp.route("/cuoc-thi/cau-hoi", methods=["GET", "POST"])
@role_required(*READERS)
def questions():
    s = get_session()
    errors: list[dict] = []
    status = 200
    if request.method == "POST":
        if actor().role not in (Role.admin, Role.communicator):
            abort(403)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Chọn tệp Excel (.xlsx) ngân hàng câu hỏi."), "error")
            status = 422
        else:
            count, errors = cs.import_questions(s, upload.stream)
            if errors:
                s.rollback()
                status = 422
                flash(_("Chưa nhập câu hỏi nào: tệp có %(n)s dòng lỗi, hãy sửa rồi nhập lại cả tệp.",
                        n=len(errors)), "error")
            else:
                s.commit()
                flash(_("Đã nhập %(n)s câu hỏi.", n=count), "success")
                return redirect(url_for("contests.questions"))
    rows = s.exec(select(ContestQuestion).order_by(ContestQuestion.id.desc()).limit(200)).all()
    total = len(s.exec(select(ContestQuestion.id)).all())
    return render_template("contests/questions.html", rows=rows, total=total, errors=errors, kinds=KINDS,
                           header=cs.HEADER), status
