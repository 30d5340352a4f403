"""Who may use each media route (read by tests/test_permissions.py)."""

VIEW = {"admin", "communicator", "reviewer", "unit_officer"}

ACCESS = {
    ("media.static", "GET"): "PUBLIC",
    ("media.public_file", "GET"): "PUBLIC",
    ("media.library", "GET"): VIEW,
    ("media.new", "GET"): "WRITE",
    ("media.new", "POST"): "WRITE",
    ("media.preview", "POST"): "WRITE",
    ("media.job", "GET"): "WRITE",
    ("media.asset", "GET"): VIEW,
    ("media.asset_file", "GET"): VIEW,
    ("media.upload", "POST"): "WRITE",
    ("media_api.templates_list", "GET"): VIEW,
    ("media_api.renders_create", "POST"): "WRITE",
    ("media_api.renders_get", "GET"): "WRITE",
    ("media_api.assets_list", "GET"): VIEW,
    ("media_api.assets_get", "GET"): VIEW,
    ("media_api.assets_file", "GET"): VIEW,
    ("media_api.assets_upload", "POST"): "WRITE",
}
