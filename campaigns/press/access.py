"""Rows of the permission matrix (tests/test_permissions.py) for the press part."""

from __future__ import annotations

ACCESS = {
    ("press.static", "GET"): "PUBLIC",
    ("press.unit_feed", "GET"): "PUBLIC",
    ("press.campaign_feed", "GET"): "PUBLIC",
    ("press.embed_campaign", "GET"): "PUBLIC",
    ("press.slots", "GET"): "STAFF",
    ("press.slots", "POST"): "WRITE",
    ("press.evidence", "GET"): "STAFF",
    ("press.confirm", "POST"): {"admin", "unit_officer"},
}
