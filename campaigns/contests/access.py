"""Rows of the permission matrix (tests/test_permissions.py) for the contests part.
The public contest pages are open to everyone (rate-limited); unpublished contests
answer 404 there."""

from __future__ import annotations

READERS = {"admin", "communicator", "reviewer"}
WRITERS = {"admin", "communicator"}

ACCESS = {
    ("contests.static", "GET"): "PUBLIC",
    ("contests.public", "GET"): "PUBLIC",
    ("contests.request_code", "POST"): "PUBLIC",
    ("contests.start", "POST"): "PUBLIC",
    ("contests.attempt", "GET"): "PUBLIC",
    ("contests.submit", "POST"): "PUBLIC",
    ("contests.results", "GET"): "PUBLIC",
    ("contests.index", "GET"): READERS,
    ("contests.index", "POST"): WRITERS,
    ("contests.detail", "GET"): READERS,
    ("contests.detail", "POST"): WRITERS,
    ("contests.winners_xlsx", "GET"): READERS,
    ("contests.questions", "GET"): READERS,
    ("contests.questions", "POST"): WRITERS,
    ("training.index", "GET"): {"admin", "communicator", "reviewer", "unit_officer"},
    ("training.index", "POST"): {"admin", "communicator", "unit_officer"},
    ("training.detail", "GET"): {"admin", "communicator", "reviewer", "unit_officer"},
    ("training.detail", "POST"): {"admin", "communicator", "unit_officer"},
    ("training.attendance_csv", "GET"): {"admin", "communicator", "reviewer", "unit_officer"},
    ("training.register", "GET"): "PUBLIC",
    ("training.register", "POST"): "PUBLIC",
    ("training.ticket", "GET"): "PUBLIC",
    ("training.check_in", "GET"): {"admin", "communicator", "unit_officer"},
    ("training.check_in", "POST"): {"admin", "communicator", "unit_officer"},
    ("awards.index", "GET"): {"admin", "communicator", "reviewer", "unit_officer"},
    ("awards.index", "POST"): {"admin", "communicator", "unit_officer"},
    ("awards.decide", "POST"): {"admin", "communicator"},
    ("awards.year_xlsx", "GET"): {"admin", "communicator", "reviewer"},
    ("design.index", "GET"): {"admin", "communicator", "reviewer", "contest_judge"},
    ("design.index", "POST"): {"admin", "communicator"},
    # judges: only the contests they are assigned to, others are 404 (tests/test_contest_design.py)
    ("design.detail", "GET"): {"admin", "communicator", "reviewer", "contest_judge"},
    ("design.detail", "POST"): {"contest_judge"},
    ("design.submission_file", "GET"): {"admin", "communicator", "reviewer", "contest_judge"},
    ("design.submit", "GET"): "PUBLIC",
    ("design.submit", "POST"): "PUBLIC",
}
