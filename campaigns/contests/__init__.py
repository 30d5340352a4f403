"""Knowledge contests (cuộc thi trực tuyến tìm hiểu về dịch vụ công trực tuyến).

Modules: ``models`` (question bank, contests, weekly rounds, SMS codes, entries),
``service`` (XLSX import, codes through an SMS account, drawing, scoring, results,
winners' XLSX), ``views`` (public pages at ``/thi/<slug>``, officers' pages at
``/cuoc-thi``), ``training`` and ``training_views`` (events, registration, QR
check-in at ``/tap-huan``; counts for T01/T02), ``design`` (design and best-communicator contests,
judges with role contest_judge, criteria scoring), ``awards`` (nominations and
decisions at ``/khen-thuong``, the year's XLSX), ``access`` (permission rows). See ``docs/contests.md``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns.contests import awards, design, training_views, views

    app.register_blueprint(views.bp)
    app.register_blueprint(training_views.bp)
    app.register_blueprint(awards.bp)
    app.register_blueprint(design.bp)
