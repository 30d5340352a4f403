"""Benchmark: all commune-level kits of the 10/10 campaign in Cần Thơ city
(``seed-demo --structure 2025``: 103 communes and wards).

Builds every kit twice in the same run, from scratch each time (``force``):

- **baseline**: one unit after another, every file rendered for the unit as
  before (``KitConfig(compose=False)``: each poster, leaflet and standee laid out
  and written in full, each spoken line synthesised and levelled, every font
  shaped and subset again);
- **composed**: what every unit shares rendered once per run (the print artwork
  as a form XObject, the common spoken lines, the fonts), each unit's files
  composed from it (``campaigns/kits/compose.py``).

Then one loudspeaker item is changed and the kits rebuilt without ``force``:
only that bulletin's files are rendered again, the others are taken from the
previous version. One kit is built first the one-by-one way, untimed, so imports
and the fonts' variable instances warm up for both. The run's temporary folder
(``TMPDIR``) is a fresh one, so the composed build starts with an empty on-disk
cache (``campaigns/kits/compose.py``: font subsets and Khmer word splits that its
worker processes share) as on a server's first build. Goal: the composed build ≤ 60 s on the 2-core machine (quiet)
and ≥ 3× faster than the baseline. The figures are printed last, with the CPU time
of both builds (this process and its worker processes: other work on the machine
stretches the wall-clock figures, much less the CPU) and the load average.

    .venv/bin/python bench/kits.py [--units N] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _setup(tmp: Path):
    os.environ.setdefault("LANTOA_SECRET_KEY", "bench-secret-key")
    from sqlmodel import SQLModel

    from app import create_app
    from campaigns.demo import seed_demo, seed_structure_2025
    from campaigns.models import Campaign, CampaignStatus
    from core.db import get_engine, session_scope

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
        seed_structure_2025(s)
        s.get(Campaign, cid).status = CampaignStatus.approved
    return app, cid


def _units(app, cid: int, limit: int | None) -> list[int]:
    from campaigns.kits.builder import kit_units
    from core.db import session_scope

    with app.app_context(), session_scope(app) as s:
        units = [u.id for u in kit_units(s, cid) if u.kind != "district"]
    return units[:limit] if limit else units


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the worker processes:
    a pool's workers are waited for when the build ends), user + system."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _run(app, cid: int, units: list[int], *, compose: bool, force: bool, workers: int):
    from campaigns.kits import compose as comp
    from campaigns.kits.builder import KitConfig, build_campaign_kits
    from core.db import session_scope

    with app.app_context(), session_scope(app) as s:
        config = replace(KitConfig.from_app(app), compose=compose)
        t0 = time.perf_counter()
        summary = build_campaign_kits(
            s, cid, config, force=force, workers=workers, unit_ids=units
        )
        return time.perf_counter() - t0, summary, dict(comp.STATS)


def _change_one_bulletin(app, cid: int) -> str:
    from sqlmodel import select

    from campaigns.models import ContentItem
    from core.db import session_scope

    with app.app_context(), session_scope(app) as s:
        s.info["kits_no_watch"] = True
        item = s.exec(
            select(ContentItem)
            .where(ContentItem.campaign_id == cid, ContentItem.channel == "loudspeaker")
            .order_by(ContentItem.id)
        ).first()
        item.body = (item.body or "") + " Bà con cần hỗ trợ xin liên hệ Bộ phận Một cửa."
        s.add(item)
        return item.title


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=None, help="only the first N units")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        # every cache a kit build keeps under the temporary folder starts empty (the worker
        # processes inherit TMPDIR)
        fresh = Path(d) / "tmp"
        fresh.mkdir()
        os.environ["TMPDIR"] = str(fresh)
        tempfile.tempdir = str(fresh)
        app, cid = _setup(Path(d))
        units = _units(app, cid, args.units)
        n = len(units)
        load0 = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} CPUs, load average {load0:.2f} at start; {n} kits")
        _run(app, cid, units[:1], compose=False, force=True, workers=1)  # warm-up, untimed

        cpu0 = _cpu()
        base_s, base, _ = _run(app, cid, units, compose=False, force=True, workers=args.workers)
        base_cpu = _cpu() - cpu0
        print(
            f"baseline  (one by one, every file from scratch): {base['built']} kits in "
            f"{base_s:6.1f} s ({base_s / max(base['built'], 1):.2f} s/kit, "
            f"CPU {base_cpu:.1f} s), failed={len(base['failed'])}, "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        cpu0 = _cpu()
        comp_s, comp, stats = _run(app, cid, units, compose=True, force=True, workers=args.workers)
        comp_cpu = _cpu() - cpu0
        print(
            f"composed  (shared parts once, units composed):  {comp['built']} kits in "
            f"{comp_s:6.1f} s ({comp_s / max(comp['built'], 1):.2f} s/kit, "
            f"CPU {comp_cpu:.1f} s), failed={len(comp['failed'])}, load {os.getloadavg()[0]:.2f}; "
            f"artwork {stats['bases']} rendered / {stats['base_hits']} reused, "
            f"{stats['full']} pages in full; spoken lines {stats['segments']} kept / "
            f"{stats['segment_hits']} reused; font subsets {stats.get('subsets', 0)} made; "
            f"DOCX skeletons {stats.get('docx_skeletons', 0)} made / "
            f"{stats.get('docx_hits', 0)} reused",
            flush=True,
        )
        title = _change_one_bulletin(app, cid)
        inc_s, inc, _ = _run(app, cid, units, compose=True, force=False, workers=args.workers)
        print(
            f"rebuild after changing “{title}”: {inc['built']} kits in {inc_s:6.1f} s; "
            f"Dựng lại {inc['files_rebuilt']} tệp, dùng lại {inc['files_reused']} tệp",
            flush=True,
        )
        same_s, same, _ = _run(app, cid, units, compose=True, force=False, workers=args.workers)
        print(f"no change: {same['unchanged']} kits current, checked in {same_s:6.2f} s")

        ratio = base_s / comp_s if comp_s else float("inf")
        cpu_ratio = base_cpu / comp_cpu if comp_cpu else float("inf")
        load = os.getloadavg()
        print(
            f"SUMMARY kits: {comp['built']} commune kits composed in {comp_s:.1f} s "
            f"({comp['built'] / comp_s:.2f} kits/s) vs {base_s:.1f} s one by one from scratch "
            f"({base['built'] / base_s:.2f} kits/s): {ratio:.2f}x faster "
            f"(CPU {comp_cpu:.1f} s vs {base_cpu:.1f} s: {cpu_ratio:.2f}x; workers {args.workers}) "
            f"(goal ≥ 3x: {'met' if ratio >= 3 else 'NOT met'}; goal ≤ 60 s: "
            f"{'met' if comp_s <= 60 else 'NOT met'}); rebuild after one bulletin changed "
            f"{inc_s:.1f} s ({inc['files_rebuilt']} files rebuilt, {inc['files_reused']} reused); "
            f"load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} (1/5/15 min, "
            f"{load0:.2f} at start) on {os.cpu_count()} CPUs"
        )


if __name__ == "__main__":
    main()
