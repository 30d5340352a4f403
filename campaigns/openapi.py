"""The OpenAPI 3.1 description of /api/v1 (kept beside the views it describes)."""

from __future__ import annotations

ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, *, body: str | None = None, ok: str = "200", tags=("api",), params=()) -> dict:
    op: dict = {"summary": summary, "tags": list(tags), "responses": {
        ok: {"description": "OK"},
        "401": {"description": "unauthorized", "content": {"application/json": {"schema": ERROR}}},
        "403": {"description": "forbidden", "content": {"application/json": {"schema": ERROR}}},
        "404": {"description": "not_found", "content": {"application/json": {"schema": ERROR}}},
        "422": {"description": "validation_error", "content": {"application/json": {"schema": ERROR}}},
    }}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if params:
        op["parameters"] = [{"name": p, "in": "query", "required": False, "schema": {"type": "string"}}
                            for p in params]
    return op


ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]


def document() -> dict:
    paths: dict = {
        "/campaigns": {"get": _op("List campaigns", params=("status", "limit", "offset")),
                       "post": _op("Create a campaign (optionally from a preset)", body="CampaignCreate", ok="201")},
        "/campaigns/{id}": {"parameters": ID, "get": _op("Get a campaign"),
                            "patch": _op("Update a campaign", body="CampaignUpdate")},
        "/campaigns/{id}/transitions": {"parameters": ID, "post": _op(
            "Move a campaign: in_review, approved, draft (send back), active, paused, completed, archived",
            body="Transition")},
        "/units": {"get": _op("List org units", params=("kind", "limit", "offset"))},
        "/units/reorganisations": {"post": _op(
            "Reorganise units, all or nothing (admin): JSON rows or a multipart CSV file",
            body="UnitReorganisation", ok="201")},
        "/channel-accounts": {"get": _op("List channel accounts (secrets redacted)"),
                              "post": _op("Register a channel account", body="ChannelAccountCreate", ok="201")},
        "/channel-accounts/{id}": {"parameters": ID, "get": _op("Get a channel account")},
        "/channel-accounts/{id}/test": {"parameters": ID, "post": _op("Test the connection; records health")},
        "/deliveries": {"get": _op("List deliveries", params=("campaign_id", "status", "limit", "offset")),
                        "post": _op("Schedule a delivery", body="DeliveryCreate", ok="201")},
        "/deliveries/{id}": {"parameters": ID, "get": _op("Get a delivery")},
        "/deliveries/{id}/attempts": {"parameters": ID, "get": _op("List a delivery's attempts")},
        "/deliveries/{id}/cancel": {"parameters": ID, "post": _op("Cancel a waiting delivery")},
        "/deliveries/{id}/retry": {"parameters": ID, "post": _op("Send a failed/missed/needs-review delivery again")},
        "/deliveries/{id}/resolve": {"parameters": ID, "post": _op("Resolve a needs-review delivery", body="Resolve")},
    }
    from campaigns import openapi_extra

    for extra in openapi_extra.EXTRA_PATHS:
        paths.update(extra())
    schemas = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "fields"], "properties": {
                "code": {"type": "string", "enum": ["validation_error", "unauthorized", "forbidden",
                                                      "not_found", "conflict", "too_large", "rate_limited"]},
                "message": {"type": "string"}, "fields": {"type": "object"}}}}},
        "UnitReorganisation": {"type": "object", "required": ["rows"], "properties": {"rows": {
            "type": "array", "minItems": 1, "maxItems": 5000, "items": {
                "type": "object", "required": ["old_code", "new_code", "effective_on"], "properties": {
                    "old_code": {"type": "string"}, "new_code": {"type": "string"},
                    "new_name": {"type": "string"}, "new_kind": {"type": "string", "enum": [
                        "province", "department", "district", "commune", "ward", "special_zone", "press",
                        "telecom"]},
                    "new_parent_code": {"type": "string"},
                    "effective_on": {"type": "string", "format": "date"}}}}}},
        "CampaignCreate": {"type": "object", "required": ["title", "starts_on", "ends_on"], "properties": {
            "title": {"type": "string", "maxLength": 200}, "description": {"type": "string"},
            "starts_on": {"type": "string", "format": "date"}, "ends_on": {"type": "string", "format": "date"},
            "preset": {"type": "string"}, "owner_unit": {"type": "string"},
            "scope": {"type": "array", "items": {"type": "string"}}, "target_url": {"type": "string"},
            "sms_class": {"type": "string", "enum": ["public_service", "advertising"]},
            "grace_hours": {"type": "integer", "minimum": 0, "maximum": 72}}},
        "CampaignUpdate": {"type": "object", "properties": {
            "title": {"type": "string"}, "description": {"type": "string"},
            "starts_on": {"type": "string", "format": "date"}, "ends_on": {"type": "string", "format": "date"},
            "scope": {"type": "array", "items": {"type": "string"}}}},
        "Transition": {"type": "object", "required": ["to"], "properties": {
            "to": {"type": "string", "enum": ["draft", "in_review", "approved", "active", "paused",
                                               "completed", "archived"]}, "comment": {"type": "string"}}},
        "ChannelAccountCreate": {"type": "object", "required": ["channel", "name"], "properties": {
            "channel": {"type": "string", "enum": ["webhook", "facebook", "zalo", "sms_kannel", "sms_partner",
                                                    "loudspeaker"]},
            "name": {"type": "string"}, "config": {"type": "object"}, "secrets": {"type": "object"},
            "unit": {"type": "string"}}},
        "DeliveryCreate": {"type": "object", "required": ["campaign_id", "channel_account_id", "scheduled_at",
                                                          "content"], "properties": {
            "campaign_id": {"type": "integer"}, "channel_account_id": {"type": "integer"},
            "scheduled_at": {"type": "string", "format": "date-time",
                             "description": "ISO 8601; no offset means Asia/Ho_Chi_Minh; past = as soon as possible"},
            "content": {"type": "object", "required": ["text"], "properties": {
                "text": {"type": "string"}, "title": {"type": "string"},
                "media_asset_ids": {"type": "array", "items": {"type": "integer"}},
                "recipient_list_id": {"type": "integer"}, "options": {"type": "object"}}}}},
        "Resolve": {"type": "object", "required": ["outcome"], "properties": {
            "outcome": {"type": "string", "enum": ["sent", "failed"]}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Lan Tỏa API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }
