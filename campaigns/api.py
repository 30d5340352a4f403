"""JSON API under /api/v1 (Bearer tokens). Described by /api/v1/openapi.json.

Errors: {"error": {"code", "message", "fields"}}; lists: {"items", "total"}.
Objects another unit or carrier may not see answer 404, never their contents.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from flask import Blueprint, g, jsonify, request
from sqlalchemy import func
from sqlmodel import select

from campaigns import service as cs
from campaigns.models import Campaign, CampaignUnit
from core.auth import user_from_bearer
from core.db import get_session
from core.extensions import csrf
from core.models import OrgUnit, Role, User, audit
from core.timeutil import parse_iso_datetime, utcnow
from core.validate import INT32_MAX
from core.web import api_error
from scheduler import service as ss
from scheduler.models import ChannelAccount, Delivery, DeliveryAttempt
from scheduler.states import IllegalTransition, Status


class ApiError(Exception):
    def __init__(self, status: int, message: str | None = None, fields: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.message, self.fields, self.extra = status, message, fields, extra


def api_blueprint(name: str, *, public: tuple[str, ...] = ()) -> Blueprint:
    """A blueprint under /api/v1 with the API's conventions: Bearer tokens (no
    CSRF: no cookies are used), ApiError and ValidationError as JSON errors.
    ``public`` names endpoints that need no token."""
    blueprint = Blueprint(name, __name__, url_prefix="/api/v1")
    csrf.exempt(blueprint)

    @blueprint.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return api_error(exc.status, exc.message, exc.fields, **exc.extra)

    @blueprint.errorhandler(cs.ValidationError)
    def _validation_error(exc: cs.ValidationError):
        return api_error(422, exc.message, exc.fields)

    @blueprint.before_request
    def _authenticate():
        if request.endpoint in {f"{name}.{e}" for e in public}:
            return None
        user = user_from_bearer(get_session())
        if user is None:
            return api_error(401)
        g.actor = user
        return None

    return blueprint


bp = api_blueprint("api", public=("openapi",))

WRITERS = (Role.communicator,)  # plus admin everywhere


def me() -> User:
    return g.actor


def roles(*allowed: Role) -> Callable:
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if me().role != Role.admin and me().role not in allowed:
                raise ApiError(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(422, "Nội dung yêu cầu phải là một đối tượng JSON.", {"_": "Cần JSON object."})
    return data


def page_args() -> tuple[int, int]:
    from core.validate import bounded_int

    errors = {}
    try:
        limit = bounded_int(request.args.get("limit", 100), lo=-INT32_MAX, label="limit")
    except ValueError as exc:
        errors["limit"] = str(exc)
        limit = 100
    try:
        offset = bounded_int(request.args.get("offset", 0), lo=0, label="offset")
    except ValueError as exc:
        errors["offset"] = str(exc)
        offset = 0
    if errors:
        raise ApiError(422, None, errors)
    return max(1, min(limit, 1000)), offset


def paged(query, serialize) -> dict:
    session = get_session()
    limit, offset = page_args()
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.limit(limit).offset(offset)).all()
    return jsonify({"items": [serialize(r) for r in rows], "total": total})


#: query parameters with bounds narrower than the integer column (as in the OpenAPI document)
ARG_BOUNDS = {"year": (2000, 2100, "Năm phải là số nguyên trong khoảng 2000–2100.")}


def is_id(value) -> bool:
    """A JSON value that can be a row id: an integer (not a boolean) the column holds."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= INT32_MAX


def int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    from core.validate import bounded_int

    lo, hi, message = ARG_BOUNDS.get(name, (-INT32_MAX, INT32_MAX, None))
    try:
        return bounded_int(raw, lo=lo, hi=hi, label=name)
    except ValueError as exc:
        raise ApiError(422, None, {name: message or str(exc)}) from None


# -- campaigns -----------------------------------------------------------------


def campaign_json(c: Campaign) -> dict:
    session = get_session()
    scope = session.exec(
        select(OrgUnit.code).join(CampaignUnit, CampaignUnit.unit_id == OrgUnit.id).where(
            CampaignUnit.campaign_id == c.id)
    ).all()
    owner = session.get(OrgUnit, c.owner_unit_id) if c.owner_unit_id else None
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "starts_on": c.starts_on.isoformat(),
        "ends_on": c.ends_on.isoformat(),
        "status": str(c.status),
        "preset": c.preset,
        "owner_unit": owner.code if owner else None,
        "scope": sorted(scope),
        "target_url": c.target_url,
        "sms_class": c.sms_class,
        "grace_hours": c.grace_hours,
        "review_comment": c.review_comment,
        "created_at": c.created_at.isoformat() if c.created_at else None,
    }


def load_campaign(campaign_id: int) -> Campaign:
    session = get_session()
    c = session.get(Campaign, campaign_id)
    if c is None or not cs.can_see_campaign(session, me(), c):
        raise ApiError(404)
    return c


@bp.get("/campaigns")
@roles(Role.communicator, Role.reviewer, Role.unit_officer)
def campaigns_list():
    query = select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    visible = cs.visible_campaign_filter(get_session(), me())
    if visible is not None:
        query = query.where(Campaign.id.in_(visible or [-1]))
    status = request.args.get("status")
    if status:
        query = query.where(Campaign.status == status)
    return paged(query, campaign_json)


@bp.post("/campaigns")
@roles(*WRITERS)
def campaigns_create():
    session = get_session()
    campaign = cs.create_campaign(session, body(), me())
    session.commit()
    return jsonify(campaign_json(campaign)), 201


@bp.get("/campaigns/<int:campaign_id>")
@roles(Role.communicator, Role.reviewer, Role.unit_officer)
def campaigns_get(campaign_id: int):
    return jsonify(campaign_json(load_campaign(campaign_id)))


@bp.patch("/campaigns/<int:campaign_id>")
@roles(*WRITERS)
def campaigns_patch(campaign_id: int):
    session = get_session()
    campaign = load_campaign(campaign_id)
    try:
        cs.update_campaign(session, campaign, body(), me())
    except cs.TransitionError as exc:
        raise ApiError(exc.status, exc.message) from None
    session.commit()
    return jsonify(campaign_json(campaign))


@bp.post("/campaigns/<int:campaign_id>/transitions")
@roles(Role.communicator, Role.reviewer)
def campaigns_transition(campaign_id: int):
    session = get_session()
    campaign = load_campaign(campaign_id)
    data = body()
    to = data.get("to")
    if not isinstance(to, str):
        raise ApiError(422, None, {"to": "Cần trạng thái đích."})
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise ApiError(422, None, {"comment": "Nhận xét phải là văn bản."})
    try:
        cs.transition_campaign(session, campaign, to, me(), comment)
    except cs.TransitionError as exc:
        raise ApiError(exc.status, exc.message) from None
    session.commit()
    return jsonify(campaign_json(campaign))


# -- units ---------------------------------------------------------------------------


@bp.get("/units")
def units_list():
    session = get_session()
    codes = dict(session.exec(select(OrgUnit.id, OrgUnit.code)).all())
    query = select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.code)
    kind = request.args.get("kind")
    if kind:
        query = query.where(OrgUnit.kind == kind)
    return paged(query, lambda u: {"code": u.code, "name": u.name, "kind": str(u.kind),
                                   "parent": codes.get(u.parent_id),
                                   "valid_from": u.valid_from.isoformat() if u.valid_from else None,
                                   "valid_to": u.valid_to.isoformat() if u.valid_to else None})


@bp.post("/units/reorganisations")
@roles()  # admin only
def units_reorganise():
    """One reorganisation, all or nothing: JSON ``{"rows": [...]}`` or a multipart
    ``file`` (CSV with old_code,new_code,new_name,new_kind,new_parent_code,effective_on)."""
    from core.units import ReorganisationError, parse_reorganisation_csv, reorganise

    session = get_session()
    try:
        upload = request.files.get("file")
        if upload is not None:
            raw = upload.read(2 * 1024 * 1024 + 1)
            if len(raw) > 2 * 1024 * 1024:
                raise ApiError(413, "Tệp quá lớn (tối đa 2 MB).")
            rows = parse_reorganisation_csv(raw)
        else:
            data = body()
            rows = data.get("rows")
            if not isinstance(rows, list):
                raise ApiError(422, "Cần trường 'rows' là một danh sách.", {"rows": "Cần một danh sách."})
        result = reorganise(session, rows, me().id)
    except ReorganisationError as exc:
        session.rollback()
        raise ApiError(422, "Không sắp xếp được; không có gì thay đổi.", {"rows": " ".join(exc.errors[:20])},
                       errors=exc.errors[:200]) from None
    session.commit()
    return jsonify(result), 201


# -- channel accounts ----------------------------------------------------------------


def account_json(a: ChannelAccount) -> dict:
    from channels import registry

    try:
        secrets_ = box().decrypt(a.secrets_encrypted)
        shown = registry.adapter_class(a.channel).redacted(a.config, secrets_)
    except Exception:  # unknown channel module or undecryptable: show config only
        shown = dict(a.config)
    return {"id": a.id, "channel": a.channel, "name": a.name, "config": shown, "status": a.status,
            "health": a.health, "unit": None if a.unit_id is None else get_session().get(OrgUnit, a.unit_id).code,
            "last_checked_at": a.last_checked_at.isoformat() if a.last_checked_at else None}


def box():
    from flask import current_app

    from core.security import SecretBox

    return SecretBox(current_app.config["SECRET_KEY"])


@bp.get("/channel-accounts")
@roles(Role.communicator, Role.reviewer)
def accounts_list():
    return paged(select(ChannelAccount).order_by(ChannelAccount.id), account_json)


@bp.post("/channel-accounts")
@roles(*WRITERS)
def accounts_create():
    from channels import ConfigError, registry

    session = get_session()
    data = body()
    errors: dict[str, str] = {}
    channel = data.get("channel")
    name = data.get("name")
    if channel not in registry.names():
        errors["channel"] = "Kênh phải là một trong: " + ", ".join(registry.names())
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "Vui lòng đặt tên tài khoản."
    elif len(name) > 200:
        errors["name"] = "Tên tối đa 200 ký tự."
    config, secrets_ = data.get("config", {}), data.get("secrets", {})
    if not isinstance(config, dict):
        errors["config"] = "config phải là đối tượng JSON."
    if not isinstance(secrets_, dict):
        errors["secrets"] = "secrets phải là đối tượng JSON."
    unit_id = None
    if data.get("unit"):
        units, missing = cs.units_by_code(session, [data["unit"]] if isinstance(data["unit"], str) else [])
        if not units:
            errors["unit"] = f"Không có đơn vị mã '{data['unit']}'."
        else:
            unit_id = units[0].id
    if errors:
        raise ApiError(422, None, errors)
    try:
        adapter = registry.adapter_class(channel)
    except ImportError:
        raise ApiError(422, None, {"channel": "Kênh này chưa được cài đặt."}) from None
    try:
        clean_config = adapter.validate_config(config)
    except ConfigError as exc:
        errors.update({f"config.{k}": v for k, v in exc.fields.items()})
        clean_config = {}
    try:
        clean_secrets = adapter.validate_secrets(secrets_)
    except ConfigError as exc:
        errors.update({f"secrets.{k}": v for k, v in exc.fields.items()})
        clean_secrets = {}
    if errors:
        raise ApiError(422, None, errors)
    if unit_id is None and clean_config.get("unit_code"):
        units, _ = cs.units_by_code(session, [clean_config["unit_code"]])
        unit_id = units[0].id if units else None
    account = ChannelAccount(channel=channel, name=cs.nfc(name), config=clean_config,
                             secrets_encrypted=box().encrypt(clean_secrets), unit_id=unit_id,
                             hook_token=secrets.token_urlsafe(24), created_at=utcnow())
    session.add(account)
    session.flush()
    audit(session, me().id, "account.create", "channel_account", account.id, channel=channel)
    session.commit()
    return jsonify(account_json(account)), 201


def load_account(account_id: int) -> ChannelAccount:
    account = get_session().get(ChannelAccount, account_id)
    if account is None:
        raise ApiError(404)
    return account


@bp.get("/channel-accounts/<int:account_id>")
@roles(Role.communicator, Role.reviewer)
def accounts_get(account_id: int):
    return jsonify(account_json(load_account(account_id)))


@bp.post("/channel-accounts/<int:account_id>/test")
@roles(*WRITERS)
def accounts_test(account_id: int):
    from scheduler.accounts import check_account

    session = get_session()
    account = load_account(account_id)
    health = check_account(session, account)
    session.commit()
    return jsonify({"id": account.id, "status": account.status, "health": health})


# -- deliveries --------------------------------------------------------------------------


def delivery_json(d: Delivery) -> dict:
    return {
        "id": d.id,
        "campaign_id": d.campaign_id,
        "channel_account_id": d.channel_account_id,
        "status": str(d.status),
        "held": d.held,
        "scheduled_at": d.scheduled_at.isoformat() if d.scheduled_at else None,
        "not_after": d.not_after.isoformat() if d.not_after else None,
        "attempts": d.attempts,
        "external_id": d.external_id,
        "last_error": d.last_error,
        "last_outcome": d.last_outcome,
        "sent_at": d.sent_at.isoformat() if d.sent_at else None,
        "confirmed_at": d.confirmed_at.isoformat() if d.confirmed_at else None,
        "content": d.content,
        "idempotency_key": d.idempotency_key,
    }


def delivery_query_for(user: User):
    """Deliveries the user may see: unit officers only those of their campaigns' units."""
    query = select(Delivery)
    if user.role in (Role.admin, Role.communicator, Role.reviewer):
        return query
    if user.role == Role.unit_officer and user.unit_id is not None:
        from core.units import subtree_ids

        units = subtree_ids(get_session(), user.unit_id)
        return query.where(Delivery.unit_id.in_(units))
    return query.where(Delivery.id == -1)


def load_delivery(delivery_id: int) -> Delivery:
    d = get_session().exec(delivery_query_for(me()).where(Delivery.id == delivery_id)).first()
    if d is None:
        raise ApiError(404)
    return d


@bp.get("/deliveries")
@roles(Role.communicator, Role.reviewer, Role.unit_officer)
def deliveries_list():
    query = delivery_query_for(me()).order_by(Delivery.scheduled_at, Delivery.id)
    campaign_id = int_arg("campaign_id")
    if campaign_id is not None:
        query = query.where(Delivery.campaign_id == campaign_id)
    status = request.args.get("status")
    if status:
        try:
            query = query.where(Delivery.status == Status(status))
        except ValueError:
            raise ApiError(422, None, {"status": "Trạng thái không tồn tại."}) from None
    return paged(query, delivery_json)


def clean_content(data, errors: dict) -> dict:
    content = data.get("content")
    if not isinstance(content, dict):
        errors["content"] = "content phải là đối tượng JSON có 'text'."
        return {}
    allowed = {"text", "title", "media_asset_ids", "recipient_list_id", "options"}
    for key in content:
        if key not in allowed:
            errors[f"content.{key}"] = "Trường không được hỗ trợ."
    text = content.get("text")
    if not isinstance(text, str) or not text.strip():
        errors["content.text"] = "Vui lòng nhập nội dung."
    elif len(text) > 63206:
        errors["content.text"] = "Nội dung quá dài."
    out = {"text": cs.nfc(text) if isinstance(text, str) else ""}
    if content.get("title") is not None:
        if not isinstance(content["title"], str) or len(content["title"]) > 200:
            errors["content.title"] = "Tiêu đề là văn bản tối đa 200 ký tự."
        else:
            out["title"] = cs.nfc(content["title"])
    media = content.get("media_asset_ids")
    if media is not None:
        if not isinstance(media, list) or not all(is_id(i) for i in media):
            errors["content.media_asset_ids"] = "Phải là danh sách mã tệp (số nguyên)."
        else:
            out["media_asset_ids"] = media
    rl = content.get("recipient_list_id")
    if rl is not None:
        if not is_id(rl):
            errors["content.recipient_list_id"] = "Phải là mã danh sách (số nguyên dương)."
        else:
            out["recipient_list_id"] = rl
    options = content.get("options")
    if options is not None:
        if not isinstance(options, dict):
            errors["content.options"] = "options phải là đối tượng JSON."
        else:
            out["options"] = options
    return out


@bp.post("/deliveries")
@roles(*WRITERS)
def deliveries_create():
    from campaigns.deliveries import DeliveryInputError, prepare_delivery

    session = get_session()
    data = body()
    errors: dict[str, str] = {}
    for key in data:
        if key not in ("campaign_id", "channel_account_id", "scheduled_at", "content", "unit"):
            errors[key] = "Trường không được hỗ trợ."
    campaign = None
    cid = data.get("campaign_id")
    if not is_id(cid):
        errors["campaign_id"] = "Cần mã chiến dịch (số nguyên dương)."
    else:
        campaign = session.get(Campaign, cid)
        if campaign is None:
            errors["campaign_id"] = f"Không có chiến dịch {cid}."
    account = None
    aid = data.get("channel_account_id")
    if not is_id(aid):
        errors["channel_account_id"] = "Cần mã tài khoản kênh (số nguyên dương)."
    else:
        account = session.get(ChannelAccount, aid)
        if account is None:
            errors["channel_account_id"] = f"Không có tài khoản kênh {aid}."
    scheduled_at = None
    raw_when = data.get("scheduled_at")
    try:
        scheduled_at = parse_iso_datetime(raw_when)
    except (ValueError, TypeError):
        errors["scheduled_at"] = "Thời điểm phải theo ISO 8601, ví dụ 2026-10-10T06:00:00+07:00."
    content = clean_content(data, errors)
    if errors:
        raise ApiError(422, None, errors)
    if campaign.status in ("completed", "archived"):
        raise ApiError(409, "Chiến dịch đã kết thúc, không thể lên lịch thêm.")
    try:
        content = prepare_delivery(session, account, content, campaign.sms_class)
    except DeliveryInputError as exc:
        raise ApiError(422, exc.message, exc.fields) from None
    held = campaign.status not in ("approved", "active")
    try:
        delivery = ss.create_delivery(
            session, account=account, content=content, scheduled_at=scheduled_at,
            campaign_id=campaign.id, held=held, grace=timedelta(hours=campaign.grace_hours),
            compliance=cs.compliance_for(campaign), created_by=me().id, unit_id=account.unit_id,
        )
    except ss.DuplicateDelivery as exc:
        session.rollback()
        raise ApiError(409, "Nội dung này đã được lên lịch trên tài khoản này vào thời điểm này.",
                       existing_id=exc.existing_id) from None
    session.commit()
    return jsonify(delivery_json(delivery)), 201


@bp.get("/deliveries/<int:delivery_id>")
@roles(Role.communicator, Role.reviewer, Role.unit_officer)
def deliveries_get(delivery_id: int):
    return jsonify(delivery_json(load_delivery(delivery_id)))


@bp.get("/deliveries/<int:delivery_id>/attempts")
@roles(Role.communicator, Role.reviewer, Role.unit_officer)
def deliveries_attempts(delivery_id: int):
    d = load_delivery(delivery_id)
    rows = get_session().exec(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == d.id).order_by(DeliveryAttempt.number)
    ).all()
    items = [{"number": a.number, "outcome": a.outcome, "provider_code": a.provider_code,
              "http_status": a.http_status, "retry_after": a.retry_after, "error": a.error,
              "external_id": a.external_id, "worker": a.worker,
              "started_at": a.started_at.isoformat() if a.started_at else None,
              "ended_at": a.ended_at.isoformat() if a.ended_at else None} for a in rows]
    return jsonify({"items": items, "total": len(items)})


def _delivery_action(delivery_id: int, action: Callable) -> tuple:
    session = get_session()
    d = load_delivery(delivery_id)
    try:
        action(session, d)
    except IllegalTransition as exc:
        session.rollback()
        raise ApiError(409, f"Không thể thực hiện khi lượt gửi đang ở trạng thái '{exc.current}'.") from None
    session.commit()
    return jsonify(delivery_json(d))


@bp.post("/deliveries/<int:delivery_id>/cancel")
@roles(*WRITERS)
def deliveries_cancel(delivery_id: int):
    return _delivery_action(delivery_id, lambda s, d: ss.cancel(s, d, me().id))


@bp.post("/deliveries/<int:delivery_id>/retry")
@roles(*WRITERS)
def deliveries_retry(delivery_id: int):
    return _delivery_action(delivery_id, lambda s, d: ss.retry(s, d, me().id))


@bp.post("/deliveries/<int:delivery_id>/resolve")
@roles(*WRITERS)
def deliveries_resolve(delivery_id: int):
    data = body()
    outcome = data.get("outcome")
    if outcome not in ("sent", "failed"):
        raise ApiError(422, None, {"outcome": "Chọn 'sent' hoặc 'failed'."})
    if load_delivery(delivery_id).status != Status.needs_review:
        raise ApiError(409, "Chỉ lượt gửi 'cần kiểm tra' mới được xác nhận thủ công.")
    return _delivery_action(delivery_id, lambda s, d: ss.resolve_review(s, d, outcome == "sent", me().id))


@bp.get("/openapi.json")
def openapi():
    from campaigns.openapi import document

    return jsonify(document())
