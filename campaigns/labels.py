"""Words for the program's names: channel accounts, send outcomes, background job states,
adapter config keys. Pages show these labels (Vietnamese, English on English pages), never
the codes themselves (``sms_partner``, ``running``, ``page_id``).

Jinja filters: ``account_channel`` (registry name -> label), ``outcome`` (send outcome ->
label), ``job_state`` (background job status -> label), ``config_label(channel)`` (config
key -> the adapter spec's label in the page's language)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext

#: channels/registry.py names (a channel account's ``channel``)
ACCOUNT_CHANNEL_LABELS = {
    "facebook": lazy_gettext("Trang Facebook"),
    "zalo": "Zalo OA",
    "sms_kannel": lazy_gettext("SMS (cổng Kannel)"),
    "sms_partner": lazy_gettext("SMS qua nhà mạng (lô tin)"),
    "loudspeaker": lazy_gettext("Loa truyền thanh"),
    "webhook": "Webhook",
    "portal_wordpress": lazy_gettext("Cổng thông tin (WordPress)"),
}

#: channels.base.Outcome values (a delivery attempt's result)
OUTCOME_LABELS = {
    "sent": lazy_gettext("Đã gửi"),
    "scheduled": lazy_gettext("Đã hẹn giờ bên nhà cung cấp"),
    "duplicate": lazy_gettext("Trùng, đã gửi trước đó"),
    "transient": lazy_gettext("Lỗi tạm thời"),
    "rate_limited": lazy_gettext("Bị giới hạn tốc độ"),
    "auth_expired": lazy_gettext("Hết hạn đăng nhập"),
    "permanent": lazy_gettext("Bị từ chối"),
    "ambiguous": lazy_gettext("Không rõ kết quả"),
    "unknown": lazy_gettext("Không rõ kết quả"),
}

#: campaigns.models.Asset.kind
ASSET_KIND_LABELS = {
    "image": lazy_gettext("Ảnh"),
    "pdf": lazy_gettext("PDF để in"),
    "video": "Video",
    "audio": lazy_gettext("Âm thanh"),
    "document": lazy_gettext("Tài liệu"),
}

#: scheduler BackgroundJob.status
JOB_STATE_LABELS = {
    "pending": lazy_gettext("Chờ chạy"),
    "running": lazy_gettext("Đang chạy"),
    "done": lazy_gettext("Xong"),
    "failed": lazy_gettext("Lỗi"),
}


def account_channel_label(channel: str | None) -> str:
    if not channel:
        return ""
    if channel in ACCOUNT_CHANNEL_LABELS:
        return str(ACCOUNT_CHANNEL_LABELS[channel])
    from campaigns.models import CHANNEL_LABELS

    return str(CHANNEL_LABELS.get(channel, channel))


def outcome_label(outcome: str | None) -> str:
    return str(OUTCOME_LABELS.get(outcome, outcome or ""))


def asset_kind_label(kind: str | None) -> str:
    return str(ASSET_KIND_LABELS.get(kind, kind or ""))


def media_template_title(name: str | None) -> str:
    """A media template's title (``social-portrait`` -> its spec's title)."""
    if not name:
        return ""
    try:
        import media_templates as mt

        return mt.get_template(name).title or name
    except Exception:  # noqa: BLE001 - a removed template still lists its files
        return name


def campaign_title(campaign_id: int | None) -> str:
    """A campaign's title where a page only has its id (cached per request)."""
    if not campaign_id:
        return ""
    from flask import g

    from campaigns.models import Campaign
    from core.db import get_session

    cache = g.setdefault("_campaign_titles", {})
    if campaign_id not in cache:
        row = get_session().get(Campaign, campaign_id)
        cache[campaign_id] = row.title if row else ""
    return cache[campaign_id]


def job_state_label(status: str | None) -> str:
    return str(JOB_STATE_LABELS.get(status, status or ""))


def config_label(key: str, channel: str | None) -> str:
    """The adapter spec's label for config key ``key`` in the page's language."""
    from channels import registry
    from core.web import get_locale

    try:
        cls = registry.adapter_class(channel) if channel else None
    except (KeyError, ImportError):
        cls = None
    for field in (getattr(cls, "config_spec", ()) if cls else ()):
        if field.name == key:
            return field.label_en if get_locale() == "en" and field.label_en else field.label
    return key


_TECHNICAL = re.compile(r"Traceback|\b[A-Z][A-Za-z]*(?:Error|Exception)\b|\[SQL:|\bSELECT\b|\bINSERT INTO\b|"
                        r"\bUPDATE \w+ SET\b|sqlite3\.|psycopg|File \"")

#: shown instead of an exception's text (which goes to the log, not to the page)
GENERIC_ERROR = lazy_gettext("Đã có lỗi hệ thống khi xử lý. Vui lòng thử lại; nếu vẫn lỗi, hãy báo quản trị viên.")


AFTER_ERROR = lazy_gettext("Vui lòng thử lại; nếu vẫn lỗi, hãy báo quản trị viên.")


def user_error(text: str | None) -> str:
    """A stored error as a reader may see it: Vietnamese sentences pass, exception text,
    Python names and SQL become one sentence saying what to do."""
    if not text:
        return ""
    if not _TECHNICAL.search(text):
        return text
    # "Vietnamese sentence (technical detail)" or "Vietnamese sentence: technical detail":
    # keep the sentence, drop the detail (it is in the log and the attempt record)
    for sep in (" (", ": "):
        head = text.split(sep, 1)[0].strip()
        if head and head != text.strip() and not _TECHNICAL.search(head) and not head.isascii():
            if sep == " (":  # the reasons in scheduler/dispatcher.py already say what to do
                return head
            return f"{head.rstrip('.')}. {AFTER_ERROR}"
    return str(GENERIC_ERROR)


def init_app(app) -> None:
    app.jinja_env.filters["user_error"] = user_error
    app.jinja_env.filters["asset_kind"] = asset_kind_label
    app.jinja_env.filters["media_template"] = media_template_title
    app.jinja_env.filters["campaign_title"] = campaign_title
    app.jinja_env.filters["account_channel"] = account_channel_label
    app.jinja_env.filters["outcome"] = outcome_label
    app.jinja_env.filters["job_state"] = job_state_label
    app.jinja_env.filters["config_label"] = config_label
