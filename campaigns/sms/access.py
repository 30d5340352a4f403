"""Who may use each SMS route (read by tests/test_permissions.py)."""

ACCESS = {
    # JSON API
    ("sms_api.lists_create", "POST"): "WRITE",
    ("sms_api.lists_index", "GET"): "PROVINCE",
    ("sms_api.lists_get", "GET"): "PROVINCE",
    ("sms_api.lists_rejected", "GET"): "PROVINCE",
    ("sms_api.optouts_import", "POST"): "WRITE",
    ("sms_api.optouts_index", "GET"): "PROVINCE",
    ("sms_api.sms_preview", "POST"): "PROVINCE",
    ("sms_api.waves_get", "GET"): "PROVINCE",
    ("sms_api.waves_rebatch", "POST"): "WRITE",
    ("sms_api.batches_index", "GET"): {"admin", "communicator", "reviewer", "telecom_partner"},
    ("sms_api.batches_get", "GET"): {"admin", "communicator", "reviewer", "telecom_partner"},
    ("sms_api.batches_file", "GET"): {"admin", "communicator", "reviewer", "telecom_partner"},
    ("sms_api.batches_ack", "POST"): "PARTNER",
    ("sms_api.batches_reports", "POST"): "PARTNER",
    # Kannel callbacks: authenticated by the account's hook token in the path
    ("sms_hooks.dlr", "GET"): "PUBLIC",
    ("sms_hooks.dlr", "POST"): "PUBLIC",
    ("sms_hooks.mo", "GET"): "PUBLIC",
    ("sms_hooks.mo", "POST"): "PUBLIC",
    # Web pages
    ("sms.static", "GET"): "PUBLIC",
    ("sms.lists", "GET"): "PROVINCE",
    ("sms.lists", "POST"): "WRITE",
    ("sms.list_detail", "GET"): "PROVINCE",
    ("sms.list_rejected", "GET"): "PROVINCE",
    ("sms.compose", "GET"): "PROVINCE",
    ("sms.compose", "POST"): "WRITE",
    ("sms.wave", "GET"): "PROVINCE",
    ("sms.wave_counts", "GET"): "PROVINCE",
    ("sms.wave_rebatch", "POST"): "WRITE",
    ("sms.batches", "GET"): {"admin", "communicator", "reviewer", "telecom_partner"},
    ("sms.batch_file", "GET"): {"admin", "communicator", "reviewer", "telecom_partner"},
    ("sms.batch_ack", "POST"): "PARTNER",
    ("sms.batch_report", "POST"): "PARTNER",
}
