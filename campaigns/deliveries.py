"""Turning what a communicator asked for into a delivery's frozen content."""

from __future__ import annotations

from sqlmodel import Session

from campaigns.models import Asset
from scheduler.models import ChannelAccount


class DeliveryInputError(ValueError):
    def __init__(self, message: str, fields: dict[str, str]):
        super().__init__(message)
        self.message = message
        self.fields = fields


def prepare_delivery(session: Session, account: ChannelAccount, content: dict,
                     sms_class: str = "public_service") -> dict:
    """Check the content against the account's adapter and freeze media files."""
    from channels import ConfigError, MediaFile, Message, registry

    fields: dict[str, str] = {}
    media = []
    for asset_id in content.get("media_asset_ids", []):
        asset = session.get(Asset, asset_id)
        if asset is None:
            fields["content.media_asset_ids"] = f"Không có tệp {asset_id}."
            continue
        media.append({"path": asset.path, "mime": asset.mime, "size": asset.size, "width": asset.width,
                      "height": asset.height, "duration": asset.duration, "asset_id": asset.id,
                      "public_token": asset.public_token})
    if account.channel.startswith("sms_"):
        if "recipient_list_id" not in content:
            fields["content.recipient_list_id"] = "Tin nhắn SMS cần danh sách người nhận."
        else:
            try:
                from scheduler.sms.models import RecipientList
            except ImportError:
                RecipientList = None
            if RecipientList is not None and session.get(RecipientList, content["recipient_list_id"]) is None:
                fields["content.recipient_list_id"] = f"Không có danh sách {content['recipient_list_id']}."
            else:
                from campaigns.sms.compose import wave_problems

                fields.update(wave_problems(session, content, sms_class))
    try:
        cls = registry.adapter_class(account.channel)
    except ImportError:
        cls = None
    if cls is not None and not fields:
        try:
            options = cls.validate_options(content.get("options", {}))
            content = {**content, "options": options}
        except ConfigError as exc:
            fields.update({f"content.options.{k}": v for k, v in exc.fields.items()})
        if not fields and not account.channel.startswith("sms_"):
            message = Message(
                idempotency_key="check", text=content["text"], title=content.get("title"),
                media=tuple(MediaFile(path=m["path"], mime=m["mime"], size=m["size"]) for m in media),
                options=content.get("options", {}),
            )
            problems = _check(cls, account, message)
            if problems:
                fields["content"] = " ".join(problems)
    if fields:
        raise DeliveryInputError("Nội dung không phù hợp với kênh.", fields)
    if media:
        content = {**content, "media": media}
    return content


def _check(cls, account: ChannelAccount, message) -> list[str]:
    try:
        adapter = cls(dict(account.config), {})
    except Exception:  # noqa: BLE001 - config errors are reported when the account is tested
        return []
    return adapter.check(message)
