"""Who may use each route of the measure package (read by tests/test_permissions.py).

Scoping of single objects (another unit's figures, tasks, feedback -> 404) is
checked in the views and tested in tests/test_measure_*.py.
"""

ADMIN = {"admin"}

ACCESS = {
    ("measure.static", "GET"): "PUBLIC",
    # public: reached by QR codes, no login, rate-limited
    ("measure.feedback_form", "GET"): "PUBLIC",
    ("measure.feedback_form", "POST"): "PUBLIC",
    ("measure.feedback_thanks", "GET"): "PUBLIC",
    ("measure.feedback_qr", "GET"): "PUBLIC",
    ("measure.feedback_summary", "GET"): "PUBLIC",
    ("measure.tracked_link", "GET"): "PUBLIC",
    # staff pages (unit officers are scoped to their subtree)
    ("measure.dashboard", "GET"): "STAFF",
    ("measure.export_xlsx", "GET"): "STAFF",
    ("measure.trend_chart", "GET"): "STAFF",
    ("measure.unit_view", "GET"): "STAFF",
    ("measure.enter_figure", "GET"): "STAFF",
    ("measure.enter_figure", "POST"): "STAFF",
    ("measure.figure_attachment", "GET"): "STAFF",
    ("measure.task_progress", "POST"): "STAFF",
    ("measure.campaign_view", "GET"): "STAFF",
    ("measure.feedback_list", "GET"): "STAFF",
    ("measure.feedback_handle", "POST"): "STAFF",
    ("measure.report_edit", "GET"): "STAFF",
    # the consolidated report: admin, reviewers and communicators of the report_to unit (Sở KH&CN);
    # a unit's own report: its officers
    ("measure.report_edit", "POST"): {"admin", "reviewer", "unit_officer"},
    ("measure.report_download", "GET"): "STAFF",
    ("measure.plans_admin", "GET"): {"admin", "reviewer"},
    ("measure.plans_admin", "POST"): ADMIN,
    ("measure.target_edit", "POST"): ADMIN,
    # plans per year: roll-over into a draft, edit its tasks, publish (admin)
    ("measure.plans_rollover", "POST"): ADMIN,
    ("measure.plan_publish", "POST"): ADMIN,
    ("measure.task_edit", "POST"): ADMIN,
    # the rows behind a figure; publications outside Lan Tỏa (a unit records its own)
    ("measure.target_rows", "GET"): "STAFF",
    ("measure.outside_record", "POST"): "STAFF",
    ("measure.outside_file", "GET"): "STAFF",
    # the budget (plan section V): a unit enters its own lines; admin maintains the prices
    ("budget.budget_page", "GET"): "STAFF",
    ("budget.line_add", "POST"): {"admin", "communicator", "unit_officer"},
    ("budget.line_delete", "POST"): {"admin", "communicator", "unit_officer"},
    ("budget.budget_export", "GET"): "STAFF",
    ("budget.prices", "GET"): {"admin", "reviewer"},
    ("budget.prices", "POST"): ADMIN,
    # API
    ("measure_api.plans_list", "GET"): "STAFF",
    ("measure_api.targets_list", "GET"): "STAFF",
    ("measure_api.targets_patch", "PATCH"): ADMIN,
    ("measure_api.figures_list", "GET"): "STAFF",
    ("measure_api.figures_create", "POST"): "STAFF",
    ("measure_api.tasks_list", "GET"): "STAFF",
    ("measure_api.outside_list", "GET"): "STAFF",
    ("measure_api.outside_create", "POST"): "STAFF",
    ("measure_api.task_progress", "PUT"): "STAFF",
    ("measure_api.unit_owed", "GET"): "STAFF",
    ("measure_api.feedback_list", "GET"): "STAFF",
    ("measure_api.feedback_handle", "POST"): {"admin", "communicator", "unit_officer"},
    ("measure_api.feedback_summary", "GET"): "STAFF",
    ("measure_api.campaign_reach", "GET"): "STAFF",
    ("measure_api.report_yearly", "GET"): "STAFF",
}
