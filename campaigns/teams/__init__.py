"""Community digital-technology teams (Tổ công nghệ số cộng đồng) door to door.

Modules: ``models`` (Team, TeamMember, TeamVisit), ``service`` (scoping, idempotent
visits, conflicts, retention purge, figures), ``api`` (``/api/v1/visits``,
``/api/v1/team-materials``), ``views`` (team pages, supervision, CSV, the phone
app at ``/to-cong-nghe/``), ``access`` (permission rows). See ``docs/teams.md``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns import openapi_extra
    from campaigns.teams import api, service, views
    from scheduler import jobs

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    if api.openapi_paths not in openapi_extra.EXTRA_PATHS:
        openapi_extra.EXTRA_PATHS.append(api.openapi_paths)
    jobs.register_daily("teams.purge", service.daily_purge)
