"""Messages that templates translate from a variable, listed for `pybabel extract`.

campaigns/templates/campaigns/{index,detail}.html call
``_(campaign_status_labels[...])`` and ``_(transition_labels[...])``; the
extractor cannot see through the variable, so the label values of
``campaigns.models.CAMPAIGN_STATUS_LABELS`` and ``campaigns.views.TRANSITION_LABELS``
are repeated here as literals. This module is never imported by the app;
tests/test_i18n_catalogue.py fails when a label is missing from this list.
"""


def _(message: str) -> str:
    return message


CAMPAIGN_STATUS_LABELS = (
    _("Bản nháp"),
    _("Chờ duyệt"),
    _("Đã duyệt"),
    _("Đang triển khai"),
    _("Tạm dừng"),
    _("Hoàn thành"),
    _("Lưu trữ"),
)

TRANSITION_LABELS = (
    _("Gửi duyệt"),
    _("Phê duyệt"),
    _("Trả lại để sửa"),
    _("Bắt đầu triển khai"),
    _("Tạm dừng"),
    _("Kết thúc"),
    _("Lưu trữ"),
)
