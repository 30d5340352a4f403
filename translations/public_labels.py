"""Strings the public pages show that come from shared code, listed for the Khmer catalogue.

The public pages (feedback form ``/y-kien``, its thanks page, the summary ``/y-kien/tong-hop``
and the QR landing link ``/r/<campaign>/<unit>``) are shown in Vietnamese, Khmer or English
(core.web.public_page). The Khmer catalogue (translations/km) holds only their strings:
`make translations` extracts them with translations/babel-public.cfg from the public
templates, campaigns/measure/feedback.py and this module, which repeats the strings those
pages take from shared files (the base layout, the error page, ``core.web.ERROR_MESSAGES``,
``campaigns.measure.feedback.SERVICES``). This module is never imported by the app;
tests/test_public_khmer.py fails when it no longer follows those dicts.
"""


def _(message: str) -> str:
    return message


#: core/templates/core/base.html (what a visitor who is not logged in sees)
BASE_LAYOUT = (
    _("Bỏ qua điều hướng"),
    _("Phần mềm nguồn mở AGPL-3.0"),
)

#: core/templates/core/error.html and core/web.py
ERROR_PAGE = (
    _("Lỗi"),
    _("Về trang chính"),
    _("Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ. Vui lòng tải lại trang."),
)

#: core.web.ERROR_MESSAGES (error pages of the public routes)
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
)

#: campaigns.measure.feedback.SERVICES (the form's choices, the summary's rows)
SERVICES = (
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

#: campaigns/measure/views.py feedback_summary
SUMMARY = (
    _("Năm phải là số nguyên trong khoảng 2000–2100."),
)
