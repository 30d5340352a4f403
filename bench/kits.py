"""Benchmark: the kits of the 11 district units for the seeded 10/10 campaign.

Runs the real build (4 print PDFs, 3 loudspeaker scripts as DOCX/PDF/TXT/MP3/WAV,
the schedule XLSX and README per unit) in the same run three ways: the default
(one unit after another in this process, ``workers=1``); side by side with
worker processes (``--workers``, default: CPU count); and the no-change pass
(all kits current: digest check only). Goal: well under a minute.

    .venv/bin/python bench/kits.py [--workers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _setup(tmp: Path):
    os.environ.setdefault("LANTOA_SECRET_KEY", "bench-secret-key")
    from sqlmodel import SQLModel, select

    from app import create_app
    from campaigns.demo import DISTRICTS, seed_demo
    from campaigns.models import Campaign, CampaignStatus, CampaignUnit
    from core.db import get_engine, session_scope
    from core.models import OrgUnit

    app = create_app(
        {
            "LANTOA_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "INSTANCE_PATH": str(tmp),
            "LANTOA_MEDIA_DIR": str(tmp / "media"),
            "SECRET_KEY": "bench",
        }
    )
    SQLModel.metadata.create_all(get_engine(app))
    with app.app_context(), session_scope(app) as s:
        s.info["kits_no_watch"] = True
        _, cid = seed_demo(s)
        for row in s.exec(select(CampaignUnit).where(CampaignUnit.campaign_id == cid)).all():
            s.delete(row)
        s.flush()
        codes = [c for c, _ in DISTRICTS]
        for unit in s.exec(select(OrgUnit).where(OrgUnit.code.in_(codes))).all():
            s.add(CampaignUnit(campaign_id=cid, unit_id=unit.id))
        s.get(Campaign, cid).status = CampaignStatus.approved
    return app, cid


def _run(app, cid: int, workers: int, force: bool) -> tuple[float, dict]:
    from sqlmodel import select

    from campaigns.demo import DISTRICTS
    from campaigns.kits.builder import KitConfig, build_campaign_kits
    from core.db import session_scope
    from core.models import OrgUnit

    with app.app_context(), session_scope(app) as s:
        codes = [c for c, _ in DISTRICTS]
        districts = [u.id for u in s.exec(select(OrgUnit).where(OrgUnit.code.in_(codes))).all()]
        t0 = time.perf_counter()
        summary = build_campaign_kits(
            s, cid, KitConfig.from_app(app), force=force, workers=workers, unit_ids=districts
        )
        return time.perf_counter() - t0, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        app, cid = _setup(Path(d))
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
        cpu0 = time.process_time()
        base_s, base = _run(app, cid, 1, force=True)
        cpu_base = time.process_time() - cpu0
        print(
            f"default   workers=1: {base['built']} kits in {base_s:6.1f} s "
            f"({base_s / max(base['built'], 1):.2f} s/kit, CPU {cpu_base / max(base['built'], 1):.2f} s/kit), "
            f"failed={len(base['failed'])}"
        )
        par_s, par = _run(app, cid, args.workers, force=True)
        print(
            f"parallel  workers={args.workers}: {par['built']} kits in {par_s:6.1f} s "
            f"({par_s / max(par['built'], 1):.2f} s/kit), failed={len(par['failed'])}"
        )
        same_s, same = _run(app, cid, args.workers, force=False)
        print(f"no change: {same['unchanged']} kits current, checked in {same_s:6.2f} s")
        from sqlmodel import select

        from campaigns.models import Kit
        from core.db import session_scope

        with app.app_context(), session_scope(app) as s:
            sizes = [k.size for k in s.exec(select(Kit).where(Kit.campaign_id == cid)).all()]
        print(f"load average {os.getloadavg()[0]:.2f} at end")
        print(f"kit size: {sum(sizes) / len(sizes) / 1e6:.1f} MB average, {len(sizes)} kits")
        cpu_total = cpu_base
        print(
            f"SUMMARY kits: 11 district kits in {base_s:.1f} s in 1 process (default) and {par_s:.1f} s "
            f"with {args.workers} worker processes; CPU {cpu_total:.1f} s in all "
            f"({cpu_total / max(base['built'], 1):.2f} s/kit); unchanged re-check {same_s:.2f} s; "
            f"goal < 60 s: {'met' if min(base_s, par_s) < 60 else 'NOT met'} "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )


if __name__ == "__main__":
    main()
