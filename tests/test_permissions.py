"""Every route x every role, generated from app.url_map.

A route without a row in ACCESS fails this test: whoever adds a route says who
may use it. Scoping of single objects (another unit's -> 404) is tested per
area; here "denied" means 401/403 or a redirect to the login page.
"""

from __future__ import annotations

import pytest
from sqlmodel import select
from werkzeug.routing import IntegerConverter

from core.db import session_scope
from tests.helpers import api_headers, login, make_user

ROLES = ("anonymous", "admin", "communicator", "reviewer", "unit_officer", "telecom_partner",
         "team_member", "translator", "contest_judge")
PUBLIC = set(ROLES)
ANY = set(ROLES) - {"anonymous"}
STAFF = {"admin", "communicator", "reviewer", "unit_officer"}
PROVINCE = {"admin", "communicator", "reviewer"}
WRITE = {"admin", "communicator"}
REVIEW = {"admin", "communicator", "reviewer"}
PARTNER = {"admin", "telecom_partner"}

#: (endpoint, method) -> roles allowed
ACCESS: dict[tuple[str, str], set[str]] = {
    ("static", "GET"): PUBLIC,
    ("auth.static", "GET"): PUBLIC,
    ("campaigns.static", "GET"): PUBLIC,
    ("auth.login", "GET"): PUBLIC,
    ("auth.login", "POST"): PUBLIC,
    ("auth.logout", "POST"): ANY,
    ("auth.set_language", "POST"): PUBLIC,
    ("campaigns.home", "GET"): ANY,  # anonymous is sent to the login page
    ("campaigns.favicon", "GET"): PUBLIC,
    ("webfonts.font", "GET"): PUBLIC,
    ("campaigns.partner_home", "GET"): PARTNER,
    ("campaigns.index", "GET"): STAFF,
    ("campaigns.create", "GET"): WRITE,
    ("campaigns.create", "POST"): WRITE,
    ("campaigns.detail", "GET"): STAFF,
    ("campaigns.edit", "GET"): WRITE,
    ("campaigns.edit", "POST"): WRITE,
    ("campaigns.transition", "POST"): REVIEW,
    ("campaigns.calendar_view", "GET"): STAFF,
    ("campaigns.calendar_move", "GET"): WRITE,
    ("campaigns.calendar_move", "POST"): WRITE,
    ("campaigns.deliveries", "GET"): STAFF,
    ("campaigns.deliveries_progress", "GET"): STAFF,
    ("campaigns.delivery_detail", "GET"): STAFF,
    ("campaigns.delivery_action", "POST"): WRITE,
    ("accounts.index", "GET"): PROVINCE,
    ("accounts.new", "GET"): WRITE,
    ("accounts.new", "POST"): WRITE,
    ("accounts.detail", "GET"): PROVINCE,
    ("accounts.test", "POST"): WRITE,
    ("items.new", "GET"): WRITE,
    ("items.new", "POST"): WRITE,
    ("items.edit", "GET"): WRITE,
    ("items.edit", "POST"): WRITE,
    ("items.schedule", "GET"): WRITE,
    ("items.schedule", "POST"): WRITE,
    ("items.mapping", "GET"): WRITE,
    ("items.mapping", "POST"): WRITE,
    ("items.khmer_list", "GET"): WRITE | {"translator"},
    ("items.khmer_edit", "GET"): WRITE | {"translator"},
    ("items.khmer_edit", "POST"): WRITE | {"translator"},
    ("api.openapi", "GET"): PUBLIC,
    ("api.units_list", "GET"): ANY,
    ("api.units_reorganise", "POST"): {"admin"},
    ("units.index", "GET"): PROVINCE,
    ("units.reorganise_view", "GET"): {"admin"},
    ("units.reorganise_view", "POST"): {"admin"},
    ("units.khmer", "GET"): {"admin"},
    ("units.khmer", "POST"): {"admin"},
    ("api.campaigns_list", "GET"): STAFF,
    ("api.campaigns_create", "POST"): WRITE,
    ("api.campaigns_get", "GET"): STAFF,
    ("api.campaigns_patch", "PATCH"): WRITE,
    ("api.campaigns_transition", "POST"): REVIEW,
    ("api.accounts_list", "GET"): PROVINCE,
    ("api.accounts_create", "POST"): WRITE,
    ("api.accounts_get", "GET"): PROVINCE,
    ("api.accounts_test", "POST"): WRITE,
    ("api.deliveries_list", "GET"): STAFF,
    ("api.deliveries_create", "POST"): WRITE,
    ("api.deliveries_get", "GET"): STAFF,
    ("api.deliveries_attempts", "GET"): STAFF,
    ("api.deliveries_cancel", "POST"): WRITE,
    ("api.deliveries_retry", "POST"): WRITE,
    ("api.deliveries_resolve", "POST"): WRITE,
}

#: Other parts declare their rows in their own modules as ACCESS dicts.
EXTRA_ACCESS_MODULES = tuple(
    f"campaigns.{part}.{module}" for part in ("media", "sms", "kits", "measure", "teams", "press",
                                               "assistant", "contests")
    for module in ("access", "permissions")
)


def all_access() -> dict:
    import importlib

    table = dict(ACCESS)
    for name in EXTRA_ACCESS_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name and not name.startswith(exc.name or "?"):
                raise
            continue
        for key, roles in getattr(module, "ACCESS", {}).items():
            table[key] = {"PUBLIC": PUBLIC, "ANY": ANY, "STAFF": STAFF, "PROVINCE": PROVINCE, "WRITE": WRITE,
                          "REVIEW": REVIEW, "PARTNER": PARTNER}.get(roles, roles) if isinstance(roles, str) else set(roles)
    return table


@pytest.fixture
def world(app, runner):
    """The demo data, a webhook account and a delivery on a unit's account."""
    from campaigns.models import Campaign
    from scheduler import service as ss
    from scheduler.models import ChannelAccount

    runner.invoke(args=["seed-demo"])
    users = {role: make_user(app, role) for role in ROLES if role != "anonymous"}
    with app.app_context(), session_scope(app) as s:
        campaign = s.exec(select(Campaign)).first()
        account = ChannelAccount(channel="webhook", name="hook", config={"url": "http://127.0.0.1:9/x"},
                                 unit_id=users["unit_officer"].unit_id)
        s.add(account)
        s.flush()
        from datetime import UTC, datetime

        d = ss.create_delivery(s, account=account, content={"text": "x"}, campaign_id=campaign.id,
                               scheduled_at=datetime(2030, 1, 1, tzinfo=UTC), unit_id=account.unit_id)
        from campaigns.models import ContentItem

        item = s.exec(select(ContentItem).where(ContentItem.campaign_id == campaign.id)).first()
        ids = {"campaign_id": campaign.id, "delivery_id": d.id, "account_id": account.id, "item_id": item.id}
    return users, ids


def _path(rule, ids) -> str:
    values = {}
    for arg in rule.arguments:
        if arg in ids:
            values[arg] = ids[arg]
        elif arg == "filename":
            values[arg] = "app.css"
        elif arg == "target":
            values[arg] = "in_review"
        elif arg == "action":
            values[arg] = "cancel"
        elif arg == "channel":
            values[arg] = "webhook"
        elif arg == "code":
            values[arg] = "vi"
        elif arg in ("unit_code",):
            values[arg] = "tx-vinh-chau"
        else:
            conv = rule._converters.get(arg)
            values[arg] = 1 if isinstance(conv, IntegerConverter) else "x"
    path = rule.rule
    for k, v in values.items():
        path = path.replace(f"<{k}>", str(v))
        for conv in ("int", "path", "string"):
            path = path.replace(f"<{conv}:{k}>", str(v))
    return path


def denied(resp) -> bool:
    if resp.status_code in (401, 403):
        return True
    return resp.status_code in (301, 302, 303) and "/login" in resp.headers.get("Location", "")


def test_every_route_has_an_expected_answer(app):
    table = all_access()
    missing = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in table:
                missing.append(f"{rule.endpoint} {method} {rule.rule}")
    assert not missing, "routes without an expected answer in the permission matrix:\n" + "\n".join(missing)


def test_permission_matrix(app, world):
    users, ids = world
    table = all_access()
    tokens = {role: api_headers(app, role) for role in users}
    failures = []
    for role in ROLES:
        client = app.test_client()
        if role != "anonymous":
            assert login(client, users[role]).status_code == 302
        for rule in app.url_map.iter_rules():
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                expected = table.get((rule.endpoint, method))
                if expected is None or (rule.endpoint, method) == ("auth.logout", "POST"):
                    continue
                path = _path(rule, ids)
                headers = {}
                if path.startswith("/api/") and role != "anonymous":
                    headers = tokens[role]
                kwargs = {"json": {}} if path.startswith("/api/") and method != "GET" else {}
                resp = client.open(path, method=method, headers=headers, **kwargs)
                if resp.status_code >= 500:
                    failures.append(f"{role} {method} {path}: {resp.status_code}")
                    continue
                if (role in expected) == denied(resp):
                    failures.append(f"{role} {method} {path}: got {resp.status_code}, "
                                    f"expected {'allowed' if role in expected else 'denied'}")
    assert not failures, "\n".join(failures)
