"""Messages that are translated from a variable, listed for `pybabel extract`.

Some label dicts stay plain (untranslated) strings because their values are also
written outside a web request: stored, exported (CSV/XLSX/DOCX, kit files) or
returned by the JSON API. Templates and views translate them only when showing
them, e.g. ``_(campaign_status_labels[...])``, ``_(task_status_labels[...])`` or
``_(ERROR_MESSAGES[status])``; the extractor cannot see through the variable, so
their values are repeated here as literals:

- ``campaigns.models.CAMPAIGN_STATUS_LABELS`` and ``campaigns.views.TRANSITION_LABELS``
- ``campaigns.measure.models.TASK_STATUS_LABELS`` (XLSX/DOCX reports)
- ``campaigns.kits.broadcasts.WEEKDAY_LABELS`` and ``STATE_LABELS`` (kit files)
- ``campaigns.measure.feedback.SERVICES`` (feedback summary API)
- ``core.web.ERROR_MESSAGES`` (JSON API errors)

Display-only dicts use ``flask_babel.lazy_gettext`` in place instead and are not
listed here. This module is never imported by the app;
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

TASK_STATUS_LABELS = (
    _("Chưa bắt đầu"),
    _("Đang thực hiện"),
    _("Hoàn thành"),
    _("Quá hạn"),
)

BROADCAST_WEEKDAY_LABELS = (
    _("Thứ Hai"),
    _("Thứ Ba"),
    _("Thứ Tư"),
    _("Thứ Năm"),
    _("Thứ Sáu"),
    _("Thứ Bảy"),
    _("Chủ nhật"),
)

BROADCAST_STATE_LABELS = (
    _("Đã xác nhận phát"),
    _("Đã hủy"),
    _("Sắp phát"),
    _("Chưa xác nhận"),
)

FEEDBACK_SERVICES = (
    _("Hộ tịch (khai sinh, khai tử, kết hôn...)"),
    _("Cư trú (đăng ký thường trú, tạm trú)"),
    _("Đất đai"),
    _("Xây dựng (cấp phép xây dựng)"),
    _("Đầu tư"),
    _("Đăng ký kinh doanh, hộ kinh doanh"),
    _("Bảo hiểm xã hội, bảo hiểm y tế"),
    _("Giấy phép lái xe, đăng ký xe"),
    _("Lý lịch tư pháp, chứng thực"),
    _("Giáo dục (tuyển sinh, văn bằng)"),
    _("Dịch vụ khác"),
)

ERROR_MESSAGES = (
    _("Yêu cầu không hợp lệ."),
    _("Cần đăng nhập hoặc mã truy cập hợp lệ."),
    _("Bạn không có quyền thực hiện thao tác này."),
    _("Không tìm thấy."),
    _("Phương thức không được hỗ trợ."),
    _("Xung đột dữ liệu."),
    _("Tệp hoặc yêu cầu quá lớn."),
    _("Định dạng không được hỗ trợ."),
    _("Dữ liệu không hợp lệ."),
    _("Quá nhiều yêu cầu, vui lòng thử lại sau."),
    _("Lỗi hệ thống. Vui lòng thử lại hoặc báo quản trị viên."),
    # core.web.BUSY_MESSAGE
    _("Hệ thống đang bận xử lý một tệp lớn. Vui lòng thử lại sau ít phút; dữ liệu bạn gửi chưa được lưu."),
)
