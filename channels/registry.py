"""Channel name -> adapter class. Modules are imported on first use."""

from __future__ import annotations

import importlib

from channels.base import Adapter

#: channel name -> "module:Class"
CHANNELS: dict[str, str] = {
    "webhook": "channels.webhook:WebhookAdapter",
    "facebook": "channels.facebook:FacebookPageAdapter",
    "zalo": "channels.zalo:ZaloOAAdapter",
    "sms_kannel": "channels.sms_kannel:KannelAdapter",
    "sms_partner": "channels.sms_partner:PartnerBatchAdapter",
    "loudspeaker": "channels.loudspeaker:LoudspeakerAdapter",
    "portal_wordpress": "channels.portal_wordpress:WordPressPortalAdapter",
}


class UnknownChannel(KeyError):
    pass


def names() -> list[str]:
    return list(CHANNELS)


def adapter_class(name: str) -> type[Adapter]:
    try:
        target = CHANNELS[name]
    except KeyError:
        raise UnknownChannel(name) from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    assert issubclass(cls, Adapter)
    return cls
