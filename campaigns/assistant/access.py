"""Who may use each route of the assistant (read by tests/test_permissions.py)."""

ACCESS = {
    ("assistant.static", "GET"): "PUBLIC",
    # the knowledge base: communicators edit, reviewers read and approve
    ("assistant.kb_list", "GET"): {"admin", "communicator", "reviewer"},
    ("assistant.kb_edit", "GET"): {"admin", "communicator", "reviewer"},
    ("assistant.kb_edit", "POST"): {"admin", "communicator"},
    ("assistant.kb_approve", "POST"): {"admin", "communicator", "reviewer"},
    # the handoff inbox: unit officers see their own subtree's questions
    ("assistant.inbox", "GET"): "STAFF",
    ("assistant.inbox_reply", "POST"): "STAFF",
    ("assistant.inbox_make_entry", "POST"): {"admin", "communicator"},
    # public: the widget on /y-kien (rate-limited) and the channels' webhooks
    ("assistant.widget_ask", "POST"): "PUBLIC",
    ("assistant_hooks.zalo_hook", "POST"): "PUBLIC",
    ("assistant_hooks.messenger_verify", "GET"): "PUBLIC",
    ("assistant_hooks.messenger_hook", "POST"): "PUBLIC",
    # API: any authenticated role
    ("assistant_api.assistant_ask", "POST"): "ANY",
}
