"""SMS JSON API under /api/v1 (Bearer tokens), same conventions as
``campaigns/api.py``: errors ``{"error": {"code", "message", "fields"}}``,
lists ``{"items", "total"}``; another carrier's batch answers 404."""

from __future__ import annotations

import io

from flask import g, jsonify, request
from sqlmodel import select
from werkzeug.exceptions import RequestEntityTooLarge

from campaigns.api import ApiError, api_blueprint, int_arg, is_id, paged
from campaigns.sms import service as sv
from core.db import get_session
from core.downloads import send_download
from core.models import Role
from core.web import api_error
from scheduler.models import ChannelAccount, Delivery
from scheduler.sms.models import OptOut, RecipientList, SmsBatch

bp = api_blueprint("sms_api")

PROVINCE = (Role.communicator, Role.reviewer)
WRITE = (Role.communicator,)
PARTNER_OR_PROVINCE = (Role.communicator, Role.reviewer, Role.telecom_partner)
PARTNER = (Role.telecom_partner,)


@bp.errorhandler(sv.SmsInputError)
def _input_error(exc: sv.SmsInputError):
    return api_error(exc.status, exc.message, exc.fields)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    message = sv.too_large_message(getattr(g, "sms_upload_limit", None) or sv.max_upload_bytes())
    return api_error(413, message, {"file": message})


def me():
    return g.actor


def allow(*roles: Role) -> None:
    if me().role != Role.admin and me().role not in roles:
        raise ApiError(403)


def _upload():
    """The multipart ``file`` with the SMS upload limit applied."""
    limit = sv.max_upload_bytes()
    g.sms_upload_limit = limit
    request.max_content_length = limit + 64 * 1024  # room for the multipart envelope
    upload = request.files.get("file")
    if upload is None or not upload.filename and upload.content_length == 0:
        raise ApiError(422, "Cần tải lên tệp (trường 'file').", {"file": "Chưa có tệp."})
    return upload, limit


def _form(name: str) -> str | None:
    value = request.form.get(name)
    return value if value not in (None, "") else None


# -- recipient lists ---------------------------------------------------------------------


@bp.post("/recipient-lists")
def lists_create():
    allow(*WRITE)
    upload, limit = _upload()
    session = get_session()
    _rl, report = sv.import_recipient_list(
        session,
        upload.stream,
        upload.filename or "",
        me(),
        name=_form("name"),
        phone_column=_form("phone_column"),
        name_column=_form("name_column"),
        consent_source=_form("consent_source"),
        max_bytes=limit,
    )
    from core.models import audit

    audit(
        session,
        me().id,
        "recipient_list.import",
        "recipient_list",
        report["id"],
        rows=report["rows"],
        valid=report["valid"],
    )
    session.commit()
    return jsonify(report), 201


@bp.get("/recipient-lists")
def lists_index():
    allow(*PROVINCE)
    return paged(select(RecipientList).order_by(RecipientList.id.desc()), sv.list_json)


def _load_list(list_id: int) -> RecipientList:
    rl = get_session().get(RecipientList, list_id)
    if rl is None:
        raise ApiError(404)
    return rl


@bp.get("/recipient-lists/<int:list_id>")
def lists_get(list_id: int):
    allow(*PROVINCE)
    rl = _load_list(list_id)
    out = sv.list_json(rl)
    out["fields"] = sv.list_fields(get_session(), rl.id)
    return jsonify(out)


@bp.get("/recipient-lists/<int:list_id>/rejected.csv")
def lists_rejected(list_id: int):
    allow(*PROVINCE)
    rl = _load_list(list_id)
    return send_download(
        sv.rejects_file(rl.id),
        mimetype="text/csv",
        download_name=f"danh-sach-{rl.id}-bi-loai.csv",
    )


# -- opt-outs / Do-Not-Call --------------------------------------------------------------


@bp.post("/opt-outs")
def optouts_import():
    """Multipart ``file`` (CSV/XLSX with a phone column) + ``source``
    (import|dnc|manual) + ``note``; or JSON ``{"phones": [...], "source", "note"}``."""
    allow(*WRITE)
    session = get_session()
    if request.mimetype == "multipart/form-data":
        upload, limit = _upload()
        source = request.form.get("source") or "import"
        result = sv.import_opt_outs(
            upload.stream,
            upload.filename or "",
            None,
            source,
            _form("note"),
            phone_column=_form("phone_column"),
            max_bytes=limit,
        )
    else:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(
                422,
                "Cần tệp (multipart 'file') hoặc JSON {\"phones\": [...]}.",
                {"file": "Chưa có tệp hoặc danh sách số."},
            )
        note = data.get("note")
        if note is not None and not isinstance(note, str):
            raise ApiError(422, None, {"note": "Ghi chú phải là văn bản."})
        source = data.get("source", "import")
        if not isinstance(source, str):
            raise ApiError(422, None, {"source": "Nguồn phải là import, dnc hoặc manual."})
        result = sv.import_opt_outs(None, "", data.get("phones"), source, note)
    from core.models import audit

    audit(
        session,
        me().id,
        "opt_out.import",
        "opt_out",
        None,
        source=source,
        added=result["added"],
        invalid=result["invalid"],
    )
    session.commit()
    return jsonify(result), 201


@bp.get("/opt-outs")
def optouts_index():
    allow(*PROVINCE)
    query = select(OptOut).order_by(OptOut.id.desc())
    source = request.args.get("source")
    if source:
        query = query.where(OptOut.source == source)
    return paged(
        query,
        lambda o: {
            "phone": o.phone,
            "source": o.source,
            "note": o.note,
            "created_at": o.created_at.isoformat() if o.created_at else None,
        },
    )


# -- compose preview -------------------------------------------------------------------


@bp.post("/sms/preview")
def sms_preview():
    """Counters for a text and its no-diacritics variant, and its problems."""
    from campaigns.sms.compose import preview

    allow(*PROVINCE)
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ApiError(422, None, {"text": "Cần nội dung tin nhắn (text)."})
    message_class = data.get("message_class", "public_service")
    if not isinstance(message_class, str):
        raise ApiError(
            422, None, {"message_class": "Loại tin phải là public_service hoặc advertising."}
        )
    sample, known = None, None
    list_id = data.get("recipient_list_id")
    if list_id is not None:
        if not is_id(list_id):
            raise ApiError(422, None, {"recipient_list_id": "Phải là mã danh sách (số nguyên dương)."})
        rl = _load_list(list_id)
        sample = sv.sample_recipient(get_session(), rl.id)
        known = set(sv.list_fields(get_session(), rl.id))
    sender = data.get("sender")
    if sender is not None and not isinstance(sender, str):
        raise ApiError(422, None, {"sender": "Tên thương hiệu phải là văn bản."})
    return jsonify(
        preview(
            data["text"],
            message_class=message_class,
            sample=sample,
            sender=sender,
            known_fields=known,
        )
    )


# -- waves -------------------------------------------------------------------------------


def _load_wave(delivery_id: int) -> Delivery:
    session = get_session()
    d = session.get(Delivery, delivery_id)
    if d is None:
        raise ApiError(404)
    account = session.get(ChannelAccount, d.channel_account_id)
    if account is None or not account.channel.startswith("sms_"):
        raise ApiError(404)
    return d


@bp.get("/sms/waves/<int:delivery_id>")
def waves_get(delivery_id: int):
    allow(*PROVINCE)
    d = _load_wave(delivery_id)
    counts = sv.wave_counts_for(d.id)
    return jsonify({"delivery_id": d.id, "status": str(d.status), **counts})


@bp.post("/sms/waves/<int:delivery_id>/rebatch")
def waves_rebatch(delivery_id: int):
    """Put the numbers a partner reported as "not our subscriber" into new
    batches under ``carrier`` (default ``other``)."""
    allow(*WRITE)
    d = _load_wave(delivery_id)
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    carrier = data.get("carrier", "other")
    if not isinstance(carrier, str):
        raise ApiError(422, None, {"carrier": "Nhà mạng phải là văn bản."})
    batches = sv.rebatch(get_session(), me(), d.id, carrier)
    return jsonify({"items": batches, "total": len(batches)})


# -- partner batches ---------------------------------------------------------------------


@bp.get("/sms/batches")
def batches_index():
    allow(*PARTNER_OR_PROVINCE)
    session = get_session()
    query = sv.batch_query_for(session, me()).order_by(SmsBatch.id.desc())
    status = request.args.get("status")
    if status:
        query = query.where(SmsBatch.status == status)
    delivery_id = int_arg("delivery_id")  # bounded like the column: never a database error
    if delivery_id is not None:
        query = query.where(SmsBatch.delivery_id == delivery_id)
    return paged(query, sv.batch_json)


def _batch(batch_id: int) -> SmsBatch:
    batch = sv.load_batch(get_session(), me(), batch_id)
    if batch is None:
        raise ApiError(404)
    return batch


@bp.get("/sms/batches/<int:batch_id>")
def batches_get(batch_id: int):
    allow(*PARTNER_OR_PROVINCE)
    return jsonify(sv.batch_json(_batch(batch_id)))


@bp.get("/sms/batches/<int:batch_id>/file")
def batches_file(batch_id: int):
    allow(*PARTNER_OR_PROVINCE)
    batch = _batch(batch_id)
    fmt = request.args.get("format", "csv")
    dl = sv.batch_download(get_session(), me(), batch, fmt)
    resp = send_download(dl.fileobj, mimetype=dl.mimetype, download_name=dl.filename)
    resp.headers["X-Content-SHA256"] = dl.sha256
    resp.headers["X-Rows"] = str(dl.rows)
    return resp


@bp.post("/sms/batches/<int:batch_id>/ack")
def batches_ack(batch_id: int):
    allow(*PARTNER)
    batch = sv.acknowledge_batch(get_session(), me(), _batch(batch_id))
    return jsonify(sv.batch_json(batch))


@bp.post("/sms/batches/<int:batch_id>/reports")
def batches_reports(batch_id: int):
    """A JSON list (or ``{"items": [...]}``), a multipart ``file`` (CSV or
    JSON), or a raw CSV body: message_id, status, at, reason."""
    allow(*PARTNER)
    batch = _batch(batch_id)
    if request.mimetype == "multipart/form-data":
        upload, _limit = _upload()
        stream, filename = upload.stream, upload.filename or ""
    else:
        stream, filename = (
            io.BytesIO(request.get_data(cache=False)),
            ("report.json" if request.is_json else "report.csv"),
        )
    result = sv.apply_report(get_session(), me(), batch, stream, filename)
    status = 422 if result["applied"] == 0 and result["errors"] else 200
    if status == 422:
        return api_error(
            422,
            "Không có dòng nào của báo cáo được ghi nhận.",
            {"file": f"{result['error_count']} dòng lỗi."},
            errors=result["errors"],
        )
    return jsonify(result)


def openapi_paths() -> dict:
    from campaigns.openapi import ID, _op

    tags = ("sms",)
    return {
        "/recipient-lists": {
            "get": _op("List recipient lists", params=("limit", "offset"), tags=tags),
            "post": {
                **_op(
                    "Import a recipient list (multipart: file, name, phone_column, "
                    "name_column, consent_source) -> import report",
                    ok="201",
                    tags=tags,
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "name": {"type": "string"},
                                    "phone_column": {"type": "string"},
                                    "name_column": {"type": "string"},
                                    "consent_source": {"type": "string"},
                                },
                            }
                        }
                    },
                },
            },
        },
        "/recipient-lists/{id}": {
            "parameters": ID,
            "get": _op("A list with its import report", tags=tags),
        },
        "/recipient-lists/{id}/rejected.csv": {
            "parameters": ID,
            "get": _op("All rejected rows (line, value, reason) as CSV", tags=tags),
        },
        "/opt-outs": {
            "get": _op(
                "List opt-out / Do-Not-Call numbers",
                params=("source", "limit", "offset"),
                tags=tags,
            ),
            "post": _op(
                "Import opt-out or DNC numbers (multipart file or JSON phones)", ok="201", tags=tags
            ),
        },
        "/sms/preview": {
            "post": _op(
                "Counters (encoding, parts) for a text and its no-diacritics variant", tags=tags
            )
        },
        "/sms/waves/{id}": {
            "parameters": ID,
            "get": _op(
                "Per-wave counts (queued/sent/delivered/failed/suppressed) per carrier", tags=tags
            ),
        },
        "/sms/waves/{id}/rebatch": {
            "parameters": ID,
            "post": _op("Re-batch numbers reported as not_our_subscriber ({carrier})", tags=tags),
        },
        "/sms/batches": {
            "get": _op(
                "Batches (a partner sees only its carrier's)",
                params=("status", "delivery_id", "limit", "offset"),
                tags=tags,
            )
        },
        "/sms/batches/{id}": {"parameters": ID, "get": _op("A batch", tags=tags)},
        "/sms/batches/{id}/file": {
            "parameters": ID,
            "get": _op(
                "Download the batch file (message_id, phone, text)", params=("format",), tags=tags
            ),
        },
        "/sms/batches/{id}/ack": {"parameters": ID, "post": _op("Acknowledge a batch", tags=tags)},
        "/sms/batches/{id}/reports": {
            "parameters": ID,
            "post": _op(
                "Upload a delivery report (JSON list or CSV: message_id, status, at, reason)",
                tags=tags,
            ),
        },
    }
