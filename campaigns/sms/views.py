"""SMS pages: recipient lists (upload + import report), compose (live
counter, no-diacritics variant), per-wave status, and the partner's batches."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlmodel import select
from werkzeug.exceptions import RequestEntityTooLarge

from campaigns.sms import service as sv
from core.auth import actor, role_required
from core.db import get_session
from core.downloads import send_download
from core.extensions import csrf
from core.models import Role
from core.validate import db_int
from scheduler.models import ChannelAccount, Delivery
from scheduler.sms.models import RecipientList, SmsBatch
from scheduler.sms.phones import CARRIER_CODES

bp = Blueprint(
    "sms",
    __name__,
    url_prefix="/sms",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/sms",
)

PROVINCE = (Role.communicator, Role.reviewer)
WRITE = (Role.communicator,)
BATCH_ROLES = (Role.communicator, Role.reviewer, Role.telecom_partner)

CARRIER_LABELS = {
    "viettel": "Viettel",
    "vinaphone": "VinaPhone",
    "mobifone": "MobiFone",
    "vietnamobile": "Vietnamobile",
    "gmobile": "Gmobile",
    "other": lazy_gettext("Khác"),
}
SMS_STATUS_LABELS = {
    "pending": lazy_gettext("Đang chờ"),
    "sent": lazy_gettext("Đã gửi"),
    "delivered": lazy_gettext("Đã đến máy"),
    "failed": lazy_gettext("Thất bại"),
    "suppressed": lazy_gettext("Bị chặn (từ chối/DNC/giới hạn)"),
    "not_our_subscriber": lazy_gettext("Không phải thuê bao của nhà mạng"),
}
BATCH_STATUS_LABELS = {
    "ready": lazy_gettext("Sẵn sàng"),
    "downloaded": lazy_gettext("Đã tải"),
    "acknowledged": lazy_gettext("Đã xác nhận"),
    "reported": lazy_gettext("Đã báo cáo"),
}


@bp.app_context_processor
def _labels():
    return {
        "carrier_labels": CARRIER_LABELS,
        "sms_status_labels": SMS_STATUS_LABELS,
        "batch_status_labels": BATCH_STATUS_LABELS,
    }


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    flash(
        sv.too_large_message(getattr(g, "sms_upload_limit", None) or sv.max_upload_bytes()), "error"
    )
    return redirect(request.url)


def _upload_limit() -> int:
    """Apply the SMS upload limit, then check the CSRF token. Upload views are
    exempt from CSRFProtect's own check only because it would parse the body
    first, under the app-wide limit; the token is still required here."""
    from flask import current_app
    from flask_wtf.csrf import CSRFError, validate_csrf
    from wtforms import ValidationError

    limit = sv.max_upload_bytes()
    g.sms_upload_limit = limit
    request.max_content_length = limit + 64 * 1024
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as exc:
            raise CSRFError(str(exc)) from None
    return limit


# -- recipient lists ---------------------------------------------------------------------


@bp.route("/lists", methods=["GET", "POST"])
@csrf.exempt  # checked in _upload_limit(), after the SMS upload limit is set
@role_required(*PROVINCE)
def lists():
    session = get_session()
    if request.method == "POST":
        if actor().role not in (Role.admin, Role.communicator):
            abort(403)
        limit = _upload_limit()
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Vui lòng chọn tệp danh sách (CSV hoặc Excel .xlsx)."), "error")
        else:
            form = request.form
            try:
                rl, _report = sv.import_recipient_list(
                    session,
                    upload.stream,
                    upload.filename,
                    actor(),
                    name=form.get("name") or None,
                    phone_column=form.get("phone_column") or None,
                    name_column=form.get("name_column") or None,
                    consent_source=form.get("consent_source") or None,
                    max_bytes=limit,
                )
            except sv.SmsInputError as exc:
                for message in dict.fromkeys([exc.message, *exc.fields.values()]):
                    flash(message, "error")
            else:
                from core.models import audit

                audit(
                    session,
                    actor().id,
                    "recipient_list.import",
                    "recipient_list",
                    rl.id,
                    rows=rl.rows,
                    valid=rl.valid,
                )
                session.commit()
                flash(_("Đã nhập danh sách."), "success")
                return redirect(url_for("sms.list_detail", list_id=rl.id))
    rows = session.exec(select(RecipientList).order_by(RecipientList.id.desc()).limit(200)).all()
    return render_template(
        "sms/lists.html",
        lists=rows,
        limit=sv.human_size(sv.max_upload_bytes()),
        can_write=actor().role in (Role.admin, Role.communicator),
    )


def _list(list_id: int) -> RecipientList:
    rl = get_session().get(RecipientList, list_id)
    if rl is None:
        abort(404)
    return rl


@bp.route("/lists/<int:list_id>")
@role_required(*PROVINCE)
def list_detail(list_id: int):
    rl = _list(list_id)
    return render_template(
        "sms/list_detail.html",
        rl=rl,
        report=sv.list_json(rl),
        fields=sv.list_fields(get_session(), rl.id),
        carriers=CARRIER_CODES,
    )


@bp.route("/lists/<int:list_id>/rejected.csv")
@role_required(*PROVINCE)
def list_rejected(list_id: int):
    rl = _list(list_id)
    if not sv.rejects_path(rl.id).exists():
        abort(404)
    return send_download(
        sv.rejects_file(rl.id),
        mimetype="text/csv",
        download_name=f"danh-sach-{rl.id}-bi-loai.csv",
    )


# -- compose -----------------------------------------------------------------------------


@bp.route("/compose", methods=["GET", "POST"])
@role_required(*PROVINCE)
def compose():
    from campaigns.models import Campaign
    from campaigns.sms.compose import preview

    session = get_session()
    lists_ = session.exec(
        select(RecipientList)
        .where(RecipientList.status == "ready")
        .order_by(RecipientList.id.desc())
        .limit(200)
    ).all()
    accounts = session.exec(
        select(ChannelAccount)
        .where(ChannelAccount.channel.in_(["sms_kannel", "sms_partner"]))
        .order_by(ChannelAccount.id)
    ).all()
    campaigns = session.exec(
        select(Campaign)
        .where(Campaign.status.not_in(["completed", "archived"]))
        .order_by(Campaign.starts_on.desc())
        .limit(200)
    ).all()
    form = request.form if request.method == "POST" else request.args
    text_ = form.get("text", "")
    list_id = form.get("recipient_list_id", type=db_int)
    account_id = form.get("channel_account_id", type=db_int)
    campaign_id = form.get("campaign_id", type=db_int)
    campaign = session.get(Campaign, campaign_id) if campaign_id else None
    rl = session.get(RecipientList, list_id) if list_id else None
    result = None
    if text_:
        result = preview(
            text_,
            message_class=campaign.sms_class if campaign else "public_service",
            sample=sv.sample_recipient(session, rl.id) if rl else None,
            known_fields=set(sv.list_fields(session, rl.id)) if rl else None,
        )
    plain = form.get("plain") == "1"
    previewing = form.get("action") == "preview"  # "Xem trước" posts the whole form and saves nothing
    if request.method == "POST" and actor().role not in (Role.admin, Role.communicator):
        abort(403)
    if previewing and plain and text_ and result:
        from scheduler.sms.encoding import strip_diacritics

        result = preview(
            strip_diacritics(text_),
            message_class=campaign.sms_class if campaign else "public_service",
            sample=sv.sample_recipient(session, rl.id) if rl else None,
            known_fields=set(sv.list_fields(session, rl.id)) if rl else None,
        )
    if request.method == "POST" and not previewing:
        if plain and text_:  # the limits apply to what will be sent
            from scheduler.sms.encoding import strip_diacritics

            result = preview(
                strip_diacritics(text_),
                message_class=campaign.sms_class if campaign else "public_service",
                sample=sv.sample_recipient(session, rl.id) if rl else None,
                known_fields=set(sv.list_fields(session, rl.id)) if rl else None,
            )
        errors = (
            dict(result["problems"]) if result else {"text": _("Vui lòng nhập nội dung tin nhắn.")}
        )
        account = session.get(ChannelAccount, account_id) if account_id else None
        if rl is None:
            errors["recipient_list_id"] = _("Vui lòng chọn danh sách người nhận.")
        if account is None or not account.channel.startswith("sms_"):
            errors["channel_account_id"] = _("Vui lòng chọn tài khoản SMS.")
        if campaign is None:
            errors["campaign_id"] = _("Vui lòng chọn chiến dịch.")
        elif rl is not None and "text" not in errors:
            from campaigns.sms.compose import wave_problems

            found = wave_problems(
                session, {"text": text_, "recipient_list_id": rl.id}, campaign.sms_class
            )
            errors.update({k.removeprefix("content."): v for k, v in found.items()})
        if not errors:
            delivery = _create_wave(
                campaign, account, rl, text_, form.get("scheduled_at"), errors, plain=plain
            )
            if delivery is not None:
                flash(_("Đã lên lịch đợt gửi SMS."), "success")
                return redirect(url_for("sms.wave", delivery_id=delivery.id))
        for message in errors.values():
            flash(message, "error")
    return render_template(
        "sms/compose.html",
        lists=lists_,
        accounts=accounts,
        campaigns=campaigns,
        text=text_,
        list_id=list_id,
        account_id=account_id,
        campaign_id=campaign_id,
        result=result,
        plain=plain,
        scheduled_at=(form.get("scheduled_at") or "")[:16],
        fields=sv.list_fields(session, rl.id) if rl else [],
    )


def _create_wave(campaign, account, rl, text_, when, errors, *, plain: bool = False):
    """Schedule the wave like ``POST /api/v1/deliveries``. ``plain`` sends the
    no-diacritics variant: the text is stripped now, and on Kannel the
    recipients' fields are stripped at send time too (coding gsm7)."""
    from campaigns import service as cs
    from campaigns.deliveries import DeliveryInputError, prepare_delivery
    from core.timeutil import parse_iso_datetime, utcnow
    from scheduler import service as ss

    session = get_session()
    try:
        scheduled_at = parse_iso_datetime(when) if when else utcnow()
    except (ValueError, TypeError):
        errors["scheduled_at"] = _("Thời điểm gửi không hợp lệ.")
        return None
    try:
        content = {"text": cs.nfc(text_), "recipient_list_id": rl.id}
        if plain:
            from scheduler.sms.encoding import strip_diacritics

            content["text"] = strip_diacritics(content["text"])
            if account.channel == "sms_kannel":
                content["options"] = {"coding": "gsm7"}
        content = prepare_delivery(session, account, content)
    except DeliveryInputError as exc:
        errors.update(exc.fields)
        return None
    try:
        delivery = ss.create_delivery(
            session,
            account=account,
            content=content,
            scheduled_at=scheduled_at,
            campaign_id=campaign.id,
            held=campaign.status not in ("approved", "active"),
            grace=timedelta(hours=campaign.grace_hours),
            compliance=cs.compliance_for(campaign),
            created_by=actor().id,
            unit_id=account.unit_id,
        )
    except ss.DuplicateDelivery:
        session.rollback()
        errors["text"] = _("Nội dung này đã được lên lịch trên tài khoản này vào thời điểm này.")
        return None
    session.commit()
    return delivery


# -- per-wave status ---------------------------------------------------------------------


def _wave(delivery_id: int) -> Delivery:
    session = get_session()
    d = session.get(Delivery, delivery_id)
    if d is None:
        abort(404)
    account = session.get(ChannelAccount, d.channel_account_id)
    if account is None or not account.channel.startswith("sms_"):
        abort(404)
    return d


@bp.route("/waves/<int:delivery_id>")
@role_required(*PROVINCE)
def wave(delivery_id: int):
    d = _wave(delivery_id)
    account = get_session().get(ChannelAccount, d.channel_account_id)
    return render_template(
        "sms/wave.html",
        d=d,
        account=account,
        counts=sv.wave_counts_for(d.id),
        can_write=actor().role in (Role.admin, Role.communicator),
    )


@bp.route("/waves/<int:delivery_id>/counts.json")
@role_required(*PROVINCE)
def wave_counts(delivery_id: int):
    d = _wave(delivery_id)
    return jsonify({"status": str(d.status), **sv.wave_counts_for(d.id)})


@bp.route("/waves/<int:delivery_id>/rebatch", methods=["POST"])
@role_required(*WRITE)
def wave_rebatch(delivery_id: int):
    d = _wave(delivery_id)
    carrier = request.form.get("carrier") or "other"
    try:
        batches = sv.rebatch(get_session(), actor(), d.id, carrier)
    except sv.SmsInputError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Đã tạo %(n)d lô tin mới.", n=len(batches)), "success")
    return redirect(url_for("sms.wave", delivery_id=d.id))


# -- partner batches ---------------------------------------------------------------------


@bp.route("/batches")
@role_required(*BATCH_ROLES)
def batches():
    session = get_session()
    rows = session.exec(
        sv.batch_query_for(session, actor()).order_by(SmsBatch.id.desc()).limit(500)
    ).all()
    return render_template(
        "sms/batches.html",
        batches=rows,
        carrier=sv.partner_carrier(session, actor()),
        is_partner=actor().role in (Role.admin, Role.telecom_partner),
    )


def _batch(batch_id: int) -> SmsBatch:
    batch = sv.load_batch(get_session(), actor(), batch_id)
    if batch is None:
        abort(404)
    return batch


@bp.route("/batches/<int:batch_id>/file")
@role_required(*BATCH_ROLES)
def batch_file(batch_id: int):
    batch = _batch(batch_id)
    try:
        dl = sv.batch_download(get_session(), actor(), batch, request.args.get("format", "csv"))
    except sv.SmsInputError as exc:
        flash(exc.message, "error")
        return redirect(url_for("sms.batches"))
    return send_download(dl.fileobj, mimetype=dl.mimetype, download_name=dl.filename)


@bp.route("/batches/<int:batch_id>/ack", methods=["POST"])
@role_required(Role.telecom_partner)
def batch_ack(batch_id: int):
    batch = _batch(batch_id)
    try:
        sv.acknowledge_batch(get_session(), actor(), batch)
    except sv.SmsInputError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Đã xác nhận nhận lô tin %(id)d.", id=batch.id), "success")
    return redirect(url_for("sms.batches"))


@bp.route("/batches/<int:batch_id>/report", methods=["POST"])
@csrf.exempt  # checked in _upload_limit(), after the SMS upload limit is set
@role_required(Role.telecom_partner)
def batch_report(batch_id: int):
    batch = _batch(batch_id)
    _upload_limit()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Vui lòng chọn tệp báo cáo (CSV hoặc JSON)."), "error")
        return redirect(url_for("sms.batches"))
    try:
        result = sv.apply_report(get_session(), actor(), batch, upload.stream, upload.filename)
    except sv.SmsInputError as exc:
        flash(exc.message, "error")
        return redirect(url_for("sms.batches"))
    flash(_("Đã ghi nhận %(n)d dòng báo cáo.", n=result["applied"]), "success")
    for err in result["errors"][:10]:
        flash(
            _(
                "Dòng %(line)s (%(value)s): %(reason)s",
                line=err["line"],
                value=err["value"],
                reason=err["reason"],
            ),
            "error",
        )
    return redirect(url_for("sms.batches"))
