"""JSON API: ``POST /api/v1/assistant/ask`` {"question", "channel"?} -> {"answer", "entry_id",
"confidence", "handoff"} for any authenticated role."""

from __future__ import annotations

from flask import jsonify

from campaigns.api import ApiError, api_blueprint, body
from campaigns.assistant import engine
from core.db import get_session

bp = api_blueprint("assistant_api")


@bp.route("/assistant/ask", methods=["POST"])
def assistant_ask():
    data = body()
    channel = data.get("channel", "api")
    if not isinstance(channel, str):
        raise ApiError(422, None, {"channel": "Kênh phải là một chuỗi."})
    session = get_session()
    try:
        result, _row = engine.ask(session, data.get("question"), channel=channel)
    except engine.AskError as exc:
        session.rollback()
        raise ApiError(422, None, exc.fields) from None
    session.commit()
    return jsonify({k: result[k] for k in ("answer", "entry_id", "confidence", "handoff", "links")})


def openapi_paths() -> dict:
    from campaigns.openapi import _op

    op = _op("Ask the citizens' assistant {question, channel?: web|api|zalo|messenger} -> {answer, entry_id, "
             "confidence, handoff, links}; below the confidence threshold the question is handed to the "
             "responsible unit (handoff: true)", tags=("assistant",))
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["question"], "properties": {
            "question": {"type": "string", "minLength": 1, "maxLength": engine.QUESTION_MAX},
            "channel": {"type": "string", "enum": list(engine.CHANNELS)}}}}}}
    op["responses"]["200"] = {"description": "The answer, or the handoff notice", "content": {"application/json": {
        "schema": {"type": "object", "required": ["answer", "entry_id", "confidence", "handoff"], "properties": {
            "answer": {"type": "string"}, "entry_id": {"type": ["integer", "null"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1}, "handoff": {"type": "boolean"},
            "links": {"type": "array", "items": {"type": "string"}}}}}}}
    return {"/assistant/ask": {"post": op}}
