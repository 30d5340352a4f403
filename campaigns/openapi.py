"""The OpenAPI 3.1 description of /api/v1 (kept beside the views it describes).

Every part declares its paths with ``_op``; ``document()`` then completes each
operation the same way (``_complete``): the error statuses any operation can
answer (401 without a valid token, 403, 404, 413 for a body over the limit,
422 for input no field can hold, 409 where the state forbids it), integer
parameters typed and bounded like the columns they reach (ids 1..2^31-1,
``limit``/``offset`` >= 0, ``year`` 2000..2100), an ``operationId`` for every
operation, and ``links`` from what creates or lists a resource to what reads,
updates or moves it (so stateful testing can chain them).
"""

from __future__ import annotations

import re

from campaigns.service import SCOPE_MAX as MAX_SCOPE
from core.validate import INT32_MAX
from core.web import ERROR_CODES

ERROR = {"$ref": "#/components/schemas/Error"}
YEAR_MIN, YEAR_MAX = 2000, 2100

_ERRORS = {
    "401": "unauthorized (missing, unknown or revoked token)",
    "403": "forbidden (role or unit)",
    "404": "not_found (unknown id, or an object the caller may not see)",
    "409": "conflict (the object's state forbids it)",
    "413": "too_large (body or file over the limit)",
    "405": "method_not_allowed (the path as sent names a resource without this method; Allow lists those)",
    "422": "validation_error (fields says which and why)",
}

def _t(*types: str) -> dict:
    return {"type": list(types) if len(types) > 1 else types[0]}


#: what the core operations answer (the parts' answers are described in their docs)
RESPONSE_SCHEMAS = {
    "Campaign": {"type": "object", "required": ["id", "title", "starts_on", "ends_on", "status", "scope"],
                 "properties": {
                     "id": {"type": "integer"}, "title": {"type": "string"}, "description": _t("string", "null"),
                     "starts_on": {"type": "string", "format": "date"},
                     "ends_on": {"type": "string", "format": "date"},
                     "status": {"type": "string", "enum": ["draft", "in_review", "approved", "active", "paused",
                                                           "completed", "archived"]},
                     "preset": _t("string", "null"), "owner_unit": _t("string", "null"),
                     "scope": {"type": "array", "items": {"type": "string"}},
                     "target_url": _t("string", "null"), "sms_class": _t("string", "null"),
                     "grace_hours": _t("integer", "null"), "review_comment": _t("string", "null"),
                     "created_at": _t("string", "null")}},
    "Delivery": {"type": "object", "required": ["id", "channel_account_id", "status", "held", "content"],
                 "properties": {
                     "id": {"type": "integer"}, "campaign_id": _t("integer", "null"),
                     "channel_account_id": {"type": "integer"}, "status": {"type": "string"},
                     "held": {"type": "boolean"}, "scheduled_at": _t("string", "null"),
                     "not_after": _t("string", "null"), "attempts": _t("integer", "null"),
                     "external_id": _t("string", "null"), "last_error": _t("string", "null"),
                     "last_outcome": _t("string", "null"), "sent_at": _t("string", "null"),
                     "confirmed_at": _t("string", "null"), "content": {"type": "object"},
                     "idempotency_key": _t("string", "null")}},
    "ChannelAccount": {"type": "object", "required": ["id", "channel", "name", "config", "status"],
                       "properties": {
                           "id": {"type": "integer"}, "channel": {"type": "string"}, "name": {"type": "string"},
                           "config": {"type": "object", "description": "secrets appear only as "
                                      "\"đã đặt\" (set) or \"chưa đặt\" (not set)"},
                           "status": {"type": "string"}, "health": _t("object", "null"),
                           "unit": _t("string", "null"), "last_checked_at": _t("string", "null")}},
}


def _list_of(name: str) -> dict:
    return {"type": "object", "required": ["items", "total"], "properties": {
        "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
        "total": {"type": "integer", "minimum": 0}}}


#: (method, path, status) -> the answer's schema
_ANSWERS = {
    ("get", "/campaigns", "200"): _list_of("Campaign"),
    ("post", "/campaigns", "201"): {"$ref": "#/components/schemas/Campaign"},
    ("get", "/campaigns/{id}", "200"): {"$ref": "#/components/schemas/Campaign"},
    ("patch", "/campaigns/{id}", "200"): {"$ref": "#/components/schemas/Campaign"},
    ("post", "/campaigns/{id}/transitions", "200"): {"$ref": "#/components/schemas/Campaign"},
    ("get", "/deliveries", "200"): _list_of("Delivery"),
    ("post", "/deliveries", "201"): {"$ref": "#/components/schemas/Delivery"},
    ("get", "/deliveries/{id}", "200"): {"$ref": "#/components/schemas/Delivery"},
    ("post", "/deliveries/{id}/cancel", "200"): {"$ref": "#/components/schemas/Delivery"},
    ("post", "/deliveries/{id}/retry", "200"): {"$ref": "#/components/schemas/Delivery"},
    ("post", "/deliveries/{id}/resolve", "200"): {"$ref": "#/components/schemas/Delivery"},
    ("get", "/channel-accounts", "200"): _list_of("ChannelAccount"),
    ("post", "/channel-accounts", "201"): {"$ref": "#/components/schemas/ChannelAccount"},
    ("get", "/channel-accounts/{id}", "200"): {"$ref": "#/components/schemas/ChannelAccount"},
}


def _error(code: str) -> dict:
    return {"description": _ERRORS[code], "content": {"application/json": {"schema": ERROR}}}


def _op(summary: str, *, body: str | None = None, ok: str = "200", tags=("api",), params=()) -> dict:
    op: dict = {"summary": summary, "tags": list(tags), "responses": {
        ok: {"description": "OK"},
        "401": _error("401"), "403": _error("403"), "404": _error("404"), "422": _error("422"),
    }}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if params:
        op["parameters"] = [{"name": p, "in": "query", "required": False, "schema": {"type": "string"}}
                            for p in params]
    return op


ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": INT32_MAX}
ID = [{"name": "id", "in": "path", "required": True, "schema": ID_SCHEMA}]

#: query parameters that are integers, whatever part declares them
INT_PARAMS = {
    "limit": {"type": "integer", "minimum": 0, "maximum": INT32_MAX,
              "description": "page size; 0 and values over 1000 are clamped to 1..1000"},
    "offset": {"type": "integer", "minimum": 0, "maximum": INT32_MAX},
    "year": {"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX},
    "campaign_id": ID_SCHEMA,
    "delivery_id": ID_SCHEMA,
}

#: (method, path) -> extra statuses the code answers beyond the common ones
_EXTRA_STATUSES = {
    ("patch", "/campaigns/{id}"): ("409",),
    ("post", "/campaigns/{id}/transitions"): ("409",),
    ("post", "/deliveries"): ("409",),
    ("post", "/deliveries/{id}/cancel"): ("409",),
    ("post", "/deliveries/{id}/retry"): ("409",),
    ("post", "/deliveries/{id}/resolve"): ("409",),
    ("post", "/kits/build"): ("409",),
    ("get", "/kits/{id}/download"): ("409",),
    ("post", "/broadcasts/{id}/confirm"): ("409",),
    ("post", "/sms/batches/{id}/ack"): ("409",),
    ("post", "/renders"): ("200",),  # identical inputs: the cached asset at once
}

#: operations a part declares without a body although they take one (JSON object, optional)
_OPTIONAL_JSON_BODIES = {
    ("post", "/sms/waves/{id}/rebatch"), ("post", "/broadcasts/{id}/confirm"),
    ("post", "/kits/build"), ("post", "/feedback/{id}/handle"), ("put", "/tasks/{id}/progress"),
    ("patch", "/targets/{id}"), ("post", "/sms/preview"), ("post", "/loudspeaker-scripts/preview"),
    ("post", "/broadcast-schedules"),
}
_REQUIRED_JSON_BODIES = {
    ("post", "/kits/build"), ("post", "/feedback/{id}/handle"), ("put", "/tasks/{id}/progress"),
    ("patch", "/targets/{id}"), ("post", "/sms/preview"), ("post", "/loudspeaker-scripts/preview"),
    ("post", "/broadcast-schedules"),
}

_METHODS = ("get", "put", "post", "patch", "delete")


def operation_id(method: str, path: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", path.replace("{id}", "by_id")) if w]
    return method + "".join(w[:1].upper() + w[1:] for w in words)


def _link(target: str, source: str = "$response.body#/id", *, param: str = "id", body: str | None = None,
          description: str = "") -> dict:
    link: dict = {"operationId": target, "description": description or f"the same object: {target}"}
    if body:
        link["requestBody"] = {body: source}
    else:
        link["parameters"] = {param: source}
    return link


def _links() -> dict:
    """(method, path, status) -> links. Creation answers and list answers lead to
    the operations on what they return."""
    o = operation_id
    first = "$response.body#/items/0/id"
    campaign_ops = {
        "GetCampaign": _link(o("get", "/campaigns/{id}")),
        "UpdateCampaign": _link(o("patch", "/campaigns/{id}")),
        "TransitionCampaign": _link(o("post", "/campaigns/{id}/transitions")),
        "CampaignReach": _link(o("get", "/campaigns/{id}/reach")),
        "CampaignDeliveries": _link(o("get", "/deliveries"), param="campaign_id"),
        "BuildKits": _link(o("post", "/kits/build"), body="campaign_id"),
    }
    delivery_ops = {
        "GetDelivery": _link(o("get", "/deliveries/{id}")),
        "DeliveryAttempts": _link(o("get", "/deliveries/{id}/attempts")),
        "CancelDelivery": _link(o("post", "/deliveries/{id}/cancel")),
        "RetryDelivery": _link(o("post", "/deliveries/{id}/retry")),
        "ResolveDelivery": _link(o("post", "/deliveries/{id}/resolve")),
        "SmsWave": _link(o("get", "/sms/waves/{id}")),
    }
    account_ops = {"GetAccount": _link(o("get", "/channel-accounts/{id}")),
                   "TestAccount": _link(o("post", "/channel-accounts/{id}/test"))}
    batch_ops = {"GetBatch": _link(o("get", "/sms/batches/{id}"), first),
                 "BatchFile": _link(o("get", "/sms/batches/{id}/file"), first),
                 "AckBatch": _link(o("post", "/sms/batches/{id}/ack"), first),
                 "BatchReport": _link(o("post", "/sms/batches/{id}/reports"), first)}
    kit_ops = {"GetKit": _link(o("get", "/kits/{id}"), first),
               "DownloadKit": _link(o("get", "/kits/{id}/download"), first),
               "KitDownloads": _link(o("get", "/kits/{id}/downloads"), first)}
    return {
        ("post", "/campaigns", "201"): campaign_ops,
        ("patch", "/campaigns/{id}", "200"): {k: campaign_ops[k] for k in ("GetCampaign", "TransitionCampaign")},
        ("post", "/campaigns/{id}/transitions", "200"): {
            k: campaign_ops[k] for k in ("GetCampaign", "UpdateCampaign", "TransitionCampaign")},
        ("get", "/campaigns", "200"): {k: _link(v["operationId"], first, param=next(iter(v["parameters"])))
                                       for k, v in campaign_ops.items() if "parameters" in v},
        ("post", "/deliveries", "201"): delivery_ops,
        ("get", "/deliveries", "200"): {k: _link(v["operationId"], first) for k, v in delivery_ops.items()},
        ("post", "/channel-accounts", "201"): account_ops,
        ("get", "/channel-accounts", "200"): {k: _link(v["operationId"], first) for k, v in account_ops.items()},
        ("post", "/recipient-lists", "201"): {
            "GetList": _link(o("get", "/recipient-lists/{id}")),
            "RejectedRows": _link(o("get", "/recipient-lists/{id}/rejected.csv"))},
        ("get", "/recipient-lists", "200"): {"GetList": _link(o("get", "/recipient-lists/{id}"), first)},
        ("get", "/sms/batches", "200"): batch_ops,
        ("post", "/renders", "202"): {"GetRender": _link(o("get", "/renders/{id}"))},
        ("post", "/assets", "201"): {"GetAsset": _link(o("get", "/assets/{id}")),
                                     "AssetFile": _link(o("get", "/assets/{id}/file"))},
        ("get", "/assets", "200"): {"GetAsset": _link(o("get", "/assets/{id}"), first)},
        ("get", "/kits", "200"): kit_ops,
        ("get", "/broadcasts", "200"): {"ConfirmBroadcast": _link(o("post", "/broadcasts/{id}/confirm"), first)},
        ("get", "/feedback", "200"): {"HandleFeedback": _link(o("post", "/feedback/{id}/handle"), first)},
        ("get", "/targets", "200"): {"EditTarget": _link(o("patch", "/targets/{id}"), first)},
        ("get", "/tasks", "200"): {"ReportProgress": _link(o("put", "/tasks/{id}/progress"),
                                                           "$response.body#/items/0/task_id")},
    }


def _complete(paths: dict) -> None:
    """The same statuses, typed parameters, operation ids and links everywhere."""
    for path, item in paths.items():
        for param in item.get("parameters", []):
            if param.get("in") == "path" and param.get("name") == "id":
                param["schema"] = dict(ID_SCHEMA)
        declared = {p.get("name") for p in item.get("parameters", []) if p.get("in") == "path"}
        declared |= {p.get("name") for m in _METHODS for p in item.get(m, {}).get("parameters", [])
                     if p.get("in") == "path"}
        for name in re.findall(r"\{(\w+)\}", path):  # a part that forgot one: declared here
            if name not in declared:
                schema = dict(ID_SCHEMA) if name == "id" or name.endswith("_id") else {"type": "string"}
                item["parameters"] = [*item.get("parameters", []),  # a copy: ID is shared
                                      {"name": name, "in": "path", "required": True, "schema": schema}]
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            op.setdefault("operationId", operation_id(method, path))
            responses = op.setdefault("responses", {})
            codes = ["401", "403", "404", "405", "422"]
            if method in ("post", "put", "patch"):
                codes.append("413")
            extra = _EXTRA_STATUSES.get((method, path), ())
            codes.extend(c for c in extra if c.startswith("4"))
            for code in codes:
                responses.setdefault(code, _error(code))
            for code in extra:
                if not code.startswith("4"):
                    responses.setdefault(code, {"description": "OK"})
            for param in op.get("parameters", []):
                if param.get("in") == "query" and param.get("name") in INT_PARAMS:
                    param["schema"] = dict(INT_PARAMS[param["name"]])
            if (method, path) in _OPTIONAL_JSON_BODIES and "requestBody" not in op:
                op["requestBody"] = {"required": (method, path) in _REQUIRED_JSON_BODIES,
                                     "content": {"application/json": {"schema": {"type": "object"}}}}
            elif "requestBody" in op and (method, path) not in {("post", "/opt-outs")}:
                op["requestBody"].setdefault("required", True)
    for (method, path, status), schema in _ANSWERS.items():
        op = paths.get(path, {}).get(method)
        if op is not None:
            op["responses"].setdefault(status, {"description": "OK"})["content"] = {
                "application/json": {"schema": schema}}
    for (method, path, status), links in _links().items():
        op = paths.get(path, {}).get(method)
        if op is None:
            continue
        known = {operation_id(m, p) for p, it in paths.items() for m in _METHODS if m in it}
        usable = {name: link for name, link in links.items() if link["operationId"] in known}
        if usable:
            op["responses"].setdefault(status, {"description": "OK"})["links"] = usable


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
    _complete(paths)
    schemas = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "fields"], "properties": {
                "code": {"type": "string", "enum": sorted(set(ERROR_CODES.values()) | {"error"})},
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
        "CampaignCreate": {"type": "object", "required": ["title", "starts_on", "ends_on"],
                           "additionalProperties": False, "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 5000},
            "starts_on": {"type": "string", "format": "date"}, "ends_on": {"type": "string", "format": "date"},
            "preset": {"type": "string"}, "owner_unit": {"type": "string"},
            "scope": {"type": "array", "maxItems": MAX_SCOPE, "items": {"type": "string"},
                      "description": f"unit codes (at most {MAX_SCOPE})"},
            "target_url": {"type": "string", "format": "uri"},
            "sms_class": {"type": "string", "enum": ["public_service", "advertising"]},
            "grace_hours": {"type": "integer", "minimum": 0, "maximum": 72}}},
        "CampaignUpdate": {"type": "object", "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 5000},
            "starts_on": {"type": "string", "format": "date"}, "ends_on": {"type": "string", "format": "date"},
            "scope": {"type": "array", "maxItems": MAX_SCOPE, "items": {"type": "string"}}}},
        "Transition": {"type": "object", "required": ["to"], "properties": {
            "to": {"type": "string", "enum": ["draft", "in_review", "approved", "active", "paused",
                                               "completed", "archived"]}, "comment": {"type": "string"}}},
        "ChannelAccountCreate": {"type": "object", "required": ["channel", "name"], "properties": {
            "channel": {"type": "string", "enum": ["webhook", "facebook", "zalo", "sms_kannel", "sms_partner",
                                                    "loudspeaker"]},
            "name": {"type": "string", "minLength": 1, "maxLength": 200}, "config": {"type": "object"},
            "secrets": {"type": "object", "description": "write-only: answers say only whether each is set"},
            "unit": {"type": "string"}}},
        "DeliveryCreate": {"type": "object", "required": ["campaign_id", "channel_account_id", "scheduled_at",
                                                          "content"], "additionalProperties": False, "properties": {
            "campaign_id": ID_SCHEMA, "channel_account_id": ID_SCHEMA, "unit": {"type": "string"},
            "scheduled_at": {"type": "string", "format": "date-time",
                             "description": "ISO 8601; no offset means Asia/Ho_Chi_Minh; past = as soon as possible"},
            "content": {"type": "object", "required": ["text"], "additionalProperties": False, "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": 63206},
                "title": {"type": "string", "maxLength": 200},
                "media_asset_ids": {"type": "array", "items": ID_SCHEMA},
                "recipient_list_id": ID_SCHEMA, "options": {"type": "object"}}}}},
        "Resolve": {"type": "object", "required": ["outcome"], "properties": {
            "outcome": {"type": "string", "enum": ["sent", "failed"]}}},
        **RESPONSE_SCHEMAS,
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Lan Tỏa API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }
