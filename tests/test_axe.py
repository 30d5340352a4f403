"""axe-core (from npm, pinned in package-lock.json) run in Debian's Chromium on the main
pages of every role: no serious or critical accessibility violation.

``make install-dev`` runs ``npm ci``; without it the test skips (fails in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._require import require_file
from tests.conftest import make_app
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.browser]

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
BAD = ("serious", "critical")


def pages_for(role: str, ids: dict) -> list[str]:
    """The main pages of each role (those the role can open)."""
    cid, list_id = ids["campaign"], ids.get("list")
    office = ["/", "/campaigns", f"/campaigns/{cid}", "/calendar", "/media", "/kits/",
              f"/kits/{ids['kit']}", "/measure", f"/measure/campaigns/{cid}", "/measure/feedback",
              "/deliveries", "/kits/broadcasts"]
    return {
        "communicator": office + [f"/campaigns/{cid}/items/new", f"/items/{ids['item']}/edit",
                                  f"/campaigns/{cid}/accounts-map", "/media/new/social-portrait",
                                  "/campaigns/new", "/accounts",
                                  f"/accounts/{ids['accounts']['facebook']}", "/sms/lists",
                                  f"/sms/lists/{list_id}", f"/sms/waves/{ids['wave']}"],
        "reviewer": office + ["/accounts"],
        "unit_officer": ["/", "/campaigns", "/calendar", "/media", "/kits/", f"/kits/{ids['kit']}",
                         "/kits/broadcasts", "/measure", "/measure/feedback"],
        "admin": office,
        "telecom_partner": ["/", "/sms/batches"],
        None: ["/login", "/y-kien", "/y-kien/tong-hop", "/y-kien?lang=km", "/y-kien/tong-hop?lang=km"],
    }[role]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tests import demo_world

    tmp = tmp_path_factory.mktemp("axe")
    app = make_app(f"sqlite:///{tmp / 'axe.db'}", tmp, WTF_CSRF_ENABLED=False)
    ids = demo_world.build(app, tmp)
    yield app, ids
    from core.db import get_engine

    get_engine(app).dispose()


def violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').slice(0, 160))}));
    }""")
    return [v for v in result if v["impact"] in BAD]


@pytest.mark.parametrize("role, width", [
    (None, 1280), ("communicator", 1280), ("reviewer", 1280), ("unit_officer", 1280), ("admin", 1280),
    ("telecom_partner", 1280),
    # the phone layout (stacked lists, wrapped nav) of those who work from a phone most
    (None, 390), ("communicator", 390), ("unit_officer", 390),
])
def test_main_pages_have_no_serious_accessibility_violations(world, role, width):
    require_file(str(AXE), "run `make install-dev` (npm ci installs axe-core from package-lock.json)")
    from tests.browser import chromium, serve
    from tests.demo_world import ROLE_USERS

    app, ids = world
    found = []
    checked = 0
    # axe is injected as a script: the pages' CSP (script-src 'self') is bypassed for it only
    with serve(app) as base, chromium(viewport={"width": width, "height": 900}, bypass_csp=True) as ctx:
        page = ctx.new_page()
        if role:
            page.goto(f"{base}/login")
            page.get_by_label("Email").fill(ROLE_USERS[role][1])
            page.get_by_label("Mật khẩu").fill(PASSWORD)
            page.get_by_role("button", name="Đăng nhập").click()
            page.wait_for_load_state()
        for url in pages_for(role, ids):
            resp = page.goto(base + url)
            assert resp is not None and resp.status == 200, f"{url}: HTTP {resp and resp.status}"
            checked += 1
            for v in violations(page):
                found.append(f"{url}: {v['impact']} {v['id']} ({v['help']}): " + " | ".join(v["nodes"]))
    assert checked == len(pages_for(role, ids))
    assert not found, "\n".join(found)
