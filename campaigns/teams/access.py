"""Rows of the permission matrix (tests/test_permissions.py) for the teams part.
Object scoping (another team's visit -> 404) is tested in tests/test_teams.py."""

from __future__ import annotations

MANAGERS = {"admin", "communicator", "unit_officer"}
SUPERVISORS = {"admin", "communicator", "reviewer", "unit_officer"}
RECORDERS = {"admin", "communicator", "unit_officer", "team_member"}
READERS = SUPERVISORS | {"team_member"}
ALL_ROLES = {"anonymous", "admin", "communicator", "reviewer", "unit_officer", "telecom_partner", "team_member"}

ACCESS = {
    ("teams.static", "GET"): "PUBLIC",
    ("teams.app_shell", "GET"): "PUBLIC",
    ("teams.app_redirect", "GET"): "PUBLIC",
    ("teams.service_worker", "GET"): "PUBLIC",
    ("teams.manifest", "GET"): "PUBLIC",
    ("teams.device_token", "POST"): {"admin", "team_member"},
    ("teams.index", "GET"): MANAGERS,
    ("teams.index", "POST"): MANAGERS,
    ("teams.detail", "GET"): MANAGERS,
    ("teams.detail", "POST"): MANAGERS,
    ("teams.supervision", "GET"): SUPERVISORS,
    ("teams.supervision_csv", "GET"): SUPERVISORS,
    ("teams_api.visits_create", "POST"): RECORDERS,
    ("teams_api.visits_list", "GET"): READERS,
    ("teams_api.visits_get", "GET"): READERS,
    ("teams_api.materials", "GET"): READERS,
}
