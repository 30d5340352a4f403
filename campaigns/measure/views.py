"""Web views of the measure package (dashboards, feedback, tracked links)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("measure", __name__, template_folder="templates", static_folder="static",
               static_url_path="/measure-static")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
