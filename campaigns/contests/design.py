"""Design contests (posters, models, videos) and the best-communicator contest:
public submissions with a checked file, judges (role contest_judge) limited to the
contests they are assigned, scoring against criteria, the results table."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

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
from flask_babel import lazy_gettext
from sqlmodel import Session, select

from campaigns.contests.models import (
    DESIGN_KINDS,
    DesignContest,
    DesignJudge,
    DesignScore,
    DesignSubmission,
)
from campaigns.contests.service import ContestError, communes, normalise_phone
from core.auth import actor, role_required
from core.db import get_session
from core.downloads import send_download
from core.extensions import limiter
from core.models import OrgUnit, Role, User
from core.timeutil import utcnow

bp = Blueprint("design", __name__, template_folder="templates")

OFFICERS = (Role.communicator,)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,78}$")
#: what a submitted file may be, recognised from its first bytes (never its name)
KINDS = {"png": "image/png", "jpeg": "image/jpeg", "pdf": "application/pdf", "mp4": "video/mp4"}


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[4:8] == b"ftyp":
        return "mp4"
    return None


def max_bytes() -> int:
    return int(current_app.config.get("LANTOA_CONTEST_UPLOAD_MAX_MB", 50)) * 1024 * 1024


def upload_dir() -> Path:
    d = Path(current_app.instance_path) / "contest_uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_file(storage) -> tuple[str, str, int]:
    """(stored name, kind, size) of an uploaded file, or ContestError."""
    head = storage.stream.read(16)
    kind = sniff(head)
    if kind is None:
        raise ContestError(lazy_gettext("Tệp phải là ảnh PNG/JPEG, tệp PDF hoặc video MP4."))
    name = f"{uuid.uuid4().hex}.{kind}"
    path = upload_dir() / name
    limit, size = max_bytes(), len(head)
    with open(path, "wb") as out:
        out.write(head)
        while chunk := storage.stream.read(1 << 20):
            size += len(chunk)
            if size > limit:
                out.close()
                path.unlink(missing_ok=True)
                raise ContestError(lazy_gettext("Tệp lớn quá %(n)s MB.", n=limit // (1024 * 1024)), 413)
            out.write(chunk)
    return name, kind, size


def parse_criteria(text: str) -> list[dict]:
    """Lines "Tên tiêu chí | điểm tối đa" -> [{"name", "max"}]."""
    out = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, _sep, top = line.rpartition("|")
        try:
            top_n = int(top.strip())
        except ValueError:
            top_n = 0
        if not name.strip() or not 1 <= top_n <= 100:
            raise ContestError(lazy_gettext("Mỗi dòng tiêu chí: tên | điểm tối đa (1–100), ví dụ \"Ý tưởng | 40\"."))
        out.append({"name": name.strip()[:120], "max": top_n})
    if not out:
        raise ContestError(lazy_gettext("Nhập ít nhất một tiêu chí chấm."))
    return out


def judged_contest_ids(session: Session, user: User) -> set[int] | None:
    """Contests the user may judge/see: None = all (officers), else the assigned ones."""
    if user.role in (Role.admin, Role.communicator, Role.reviewer):
        return None
    return set(session.exec(select(DesignJudge.contest_id).where(DesignJudge.user_id == user.id)).all())


def contest_for(session: Session, user: User, contest_id: int) -> DesignContest:
    allowed = judged_contest_ids(session, user)
    contest = session.get(DesignContest, contest_id)
    if contest is None or (allowed is not None and contest_id not in allowed):
        abort(404)
    return contest


def score(session: Session, contest: DesignContest, sub: DesignSubmission, judge: User,
          raw: list[str]) -> DesignScore:
    points = []
    for crit, value in zip(contest.criteria, raw + [""] * len(contest.criteria), strict=False):
        try:
            p = float(str(value).replace(",", "."))
        except ValueError:
            raise ContestError(lazy_gettext("Nhập điểm cho mọi tiêu chí.")) from None
        if not 0 <= p <= crit["max"]:
            raise ContestError(lazy_gettext("Điểm của tiêu chí \"%(c)s\" phải từ 0 đến %(m)s.", c=crit["name"],
                                            m=crit["max"]))
        points.append(p)
    row = session.exec(select(DesignScore).where(DesignScore.submission_id == sub.id,
                                                 DesignScore.judge_id == judge.id)).first()
    row = row or DesignScore(submission_id=sub.id, judge_id=judge.id)
    row.points, row.total, row.scored_at = points, round(sum(points), 2), utcnow()
    session.add(row)
    session.flush()
    return row


def results(session: Session, contest: DesignContest) -> list[dict]:
    """Submissions by the judges' average total (highest first)."""
    subs = session.exec(select(DesignSubmission).where(DesignSubmission.contest_id == contest.id)).all()
    scores: dict[int, list[float]] = {}
    for sid, total in session.exec(select(DesignScore.submission_id, DesignScore.total).join(
            DesignSubmission, DesignSubmission.id == DesignScore.submission_id)
            .where(DesignSubmission.contest_id == contest.id)).all():
        scores.setdefault(sid, []).append(total)
    rows = [{"sub": s, "judges": len(scores.get(s.id, [])),
             "average": round(sum(scores[s.id]) / len(scores[s.id]), 2) if scores.get(s.id) else None}
            for s in subs]
    rows.sort(key=lambda r: (r["average"] is None, -(r["average"] or 0), r["sub"].id))
    return rows


# -- pages ----------------------------------------------------------------------------------


def _limit() -> str:
    return current_app.config.get("LANTOA_CONTEST_CODE_RATE_LIMIT", "20 per hour")


@bp.route("/cuoc-thi/sang-tac", methods=["GET", "POST"])
@role_required(Role.communicator, Role.reviewer, Role.contest_judge)
def index():
    s = get_session()
    me = actor()
    judges = s.exec(select(User).where(User.role == Role.contest_judge).order_by(User.name)).all()
    if request.method == "POST":
        if me.role not in (Role.admin, Role.communicator):
            abort(403)
        f = request.form
        title, slug = (f.get("title") or "").strip(), (f.get("slug") or "").strip().lower()
        problems = []
        if not title or len(title) > 200:
            problems.append(_("Nhập tên cuộc thi (tối đa 200 ký tự)."))
        if not SLUG.match(slug) or s.exec(select(DesignContest.id).where(DesignContest.slug == slug)).first():
            problems.append(_("Địa chỉ trang thi chỉ gồm chữ thường không dấu, số và dấu gạch ngang, chưa được dùng."))
        if f.get("kind") not in DESIGN_KINDS:
            problems.append(_("Chọn loại cuộc thi."))
        try:
            criteria = parse_criteria(f.get("criteria", ""))
        except ContestError as exc:
            problems.append(str(exc.message))
        judge_ids = {j.id for j in judges} & {int(v) for v in f.getlist("judges") if v.isdigit() and len(v) < 10}
        if problems:
            for p in problems:
                flash(p, "error")
        else:
            c = DesignContest(slug=slug, title=title, kind=f["kind"], criteria=criteria,
                              description=(f.get("description") or "").strip()[:4000], created_by=me.id,
                              created_at=utcnow())
            s.add(c)
            s.flush()
            for j in judge_ids:
                s.add(DesignJudge(contest_id=c.id, user_id=j))
            s.commit()
            flash(_("Đã tạo cuộc thi."), "success")
            return redirect(url_for("design.detail", contest_id=c.id))
    allowed = judged_contest_ids(s, me)
    q = select(DesignContest).order_by(DesignContest.id.desc())
    if allowed is not None:
        q = q.where(DesignContest.id.in_(allowed or {-1}))
    return render_template("design/index.html", contests=s.exec(q).all(), kinds=DESIGN_KINDS, judges=judges)


@bp.route("/cuoc-thi/sang-tac/<int:contest_id>", methods=["GET", "POST"])
@role_required(Role.communicator, Role.reviewer, Role.contest_judge)
def detail(contest_id: int):
    s = get_session()
    me = actor()
    if request.method == "POST" and me.role != Role.contest_judge:
        abort(403)
    contest = contest_for(s, me, contest_id)
    status = 200
    if request.method == "POST":
        sub = s.get(DesignSubmission, int(request.form.get("submission") or 0)
                    if (request.form.get("submission") or "").isdigit() and len(request.form["submission"]) < 10
                    else 0)
        if sub is None or sub.contest_id != contest.id:
            abort(404)
        try:
            score(s, contest, sub, me, request.form.getlist("points"))
            s.commit()
            flash(_("Đã lưu điểm."), "success")
            return redirect(url_for("design.detail", contest_id=contest.id))
        except ContestError as exc:
            s.rollback()
            flash(str(exc.message), "error")
            status = 422
    mine = {r.submission_id: r for r in s.exec(select(DesignScore).where(DesignScore.judge_id == me.id)).all()}
    units = {u.id: u.name for u in s.exec(select(OrgUnit)).all()}
    return render_template("design/detail.html", contest=contest, rows=results(s, contest), mine=mine,
                           units=units, kinds=DESIGN_KINDS), status


@bp.get("/cuoc-thi/sang-tac/bai/<int:submission_id>/tep")
@role_required(Role.communicator, Role.reviewer, Role.contest_judge)
def submission_file(submission_id: int):
    s = get_session()
    sub = s.get(DesignSubmission, submission_id) or abort(404)
    contest_for(s, actor(), sub.contest_id)
    path = upload_dir() / sub.file_path
    if not path.exists():
        abort(404)
    return send_download(path, mimetype=KINDS[sub.file_kind], download_name=f"bai-{sub.id}.{sub.file_kind}",
                         inline=True)


@bp.route("/thi/sang-tac/<slug>", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def submit(slug: str):
    s = get_session()
    contest = s.exec(select(DesignContest).where(DesignContest.slug == slug)).first() or abort(404)
    error, done = None, False
    if request.method == "POST":
        f = request.form
        try:
            if not contest.open:
                raise ContestError(lazy_gettext("Cuộc thi đã ngừng nhận bài."), 409)
            title, author = (f.get("title") or "").strip(), (f.get("author") or "").strip()
            if not title or len(title) > 200 or not author or len(author) > 200:
                raise ContestError(lazy_gettext("Nhập tên bài dự thi và tên tác giả (tối đa 200 ký tự)."))
            phone, _c = normalise_phone(f.get("phone", ""))
            unit_raw = f.get("unit") or ""
            unit = s.get(OrgUnit, int(unit_raw)) if unit_raw.isdigit() and len(unit_raw) < 10 else None
            if unit is None:
                raise ContestError(lazy_gettext("Vui lòng chọn xã/phường nơi bạn sinh sống."))
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise ContestError(lazy_gettext("Chọn tệp bài dự thi."))
            name, kind, size = save_file(upload)
            s.add(DesignSubmission(contest_id=contest.id, title=title, author=author, phone=phone, unit_id=unit.id,
                                   school=(f.get("school") or "").strip()[:200], file_path=name, file_kind=kind,
                                   file_size=size, created_at=utcnow()))
            s.commit()
            done = True
        except ContestError as exc:
            s.rollback()
            error = exc.message
    resp = render_template("design/submit.html", contest=contest, communes=communes(s), error=error, done=done,
                           form=request.form, kinds=DESIGN_KINDS)
    return Response(resp, status=422 if error else 200)
