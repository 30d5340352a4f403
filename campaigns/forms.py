"""Web forms (Flask-WTF: CSRF on every form)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional, ValidationError


class CampaignForm(FlaskForm):
    # Labels, choices and messages are lazy: translated when the form is rendered.
    preset = SelectField(lazy_gettext("Mẫu kế hoạch"), choices=[], validate_choice=True)
    title = StringField(lazy_gettext("Tên chiến dịch"), validators=[
        Length(max=200, message=lazy_gettext("Tên chiến dịch tối đa 200 ký tự."))])
    description = TextAreaField(lazy_gettext("Mô tả"), validators=[
        Length(max=5000, message=lazy_gettext("Mô tả tối đa 5000 ký tự."))])
    starts_on = DateField(lazy_gettext("Ngày bắt đầu"), validators=[Optional()],
                          render_kw={"placeholder": "yyyy-mm-dd"})
    ends_on = DateField(lazy_gettext("Ngày kết thúc"), validators=[Optional()])
    owner_unit = SelectField(lazy_gettext("Đơn vị chủ trì"), choices=[], validate_choice=True)
    scope = SelectMultipleField(lazy_gettext("Phạm vi (đơn vị được triển khai)"), choices=[],
                                validate_choice=True)
    target_url = StringField(
        lazy_gettext("Liên kết đích của mã QR"), default="https://dichvucong.gov.vn", validators=[
            DataRequired(message=lazy_gettext("Vui lòng nhập liên kết.")),
            URL(require_tld=False,
                message=lazy_gettext("Liên kết phải bắt đầu bằng http:// hoặc https://.")),
            Length(max=500)])
    sms_class = SelectField(lazy_gettext("Loại tin nhắn SMS"), choices=[
        ("public_service", lazy_gettext("Thông tin dịch vụ công (không gắn [QC])")),
        ("advertising", lazy_gettext("Quảng cáo (gắn [QC], cần nguồn đồng ý)"))])
    grace_hours = IntegerField(lazy_gettext("Cho phép gửi trễ tối đa (giờ)"), default=6, validators=[
        NumberRange(min=0, max=72, message=lazy_gettext("Từ 0 đến 72 giờ."))])

    def validate_title(self, field):
        if not self.preset.data and not (field.data or "").strip():
            raise ValidationError(_("Vui lòng nhập tên chiến dịch."))

    def validate_starts_on(self, field):
        if not self.preset.data and field.data is None:
            raise ValidationError(_("Vui lòng nhập ngày bắt đầu hợp lệ."))

    def validate_ends_on(self, field):
        if not self.preset.data and field.data is None:
            raise ValidationError(_("Vui lòng nhập ngày kết thúc hợp lệ."))
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_("Ngày kết thúc phải sau hoặc bằng ngày bắt đầu."))


class TransitionForm(FlaskForm):
    comment = TextAreaField(lazy_gettext("Nhận xét"), validators=[
        Length(max=2000, message=lazy_gettext("Tối đa 2000 ký tự."))])


class ContentItemForm(FlaskForm):
    title = StringField(lazy_gettext("Tiêu đề"), validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập tiêu đề.")),
        Length(max=200, message=lazy_gettext("Tối đa 200 ký tự."))])
    body = TextAreaField(lazy_gettext("Nội dung"), validators=[
        Length(max=20000, message=lazy_gettext("Tối đa 20000 ký tự."))])
    channel = SelectField(lazy_gettext("Kênh"), choices=[])
    language = SelectField(lazy_gettext("Ngôn ngữ"), choices=[
        ("vi", lazy_gettext("Tiếng Việt")), ("km", lazy_gettext("Tiếng Khmer")), ("en", "English")])


class ItemForm(FlaskForm):
    title = StringField(lazy_gettext("Tiêu đề"), validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập tiêu đề.")),
        Length(max=200, message=lazy_gettext("Tiêu đề tối đa 200 ký tự."))])
    body = TextAreaField(lazy_gettext("Nội dung (viết một lần, dùng cho mọi kênh)"), validators=[
        Length(max=20000, message=lazy_gettext("Nội dung tối đa 20000 ký tự."))])
    channel = SelectField(lazy_gettext("Kênh"), choices=[])
    language = SelectField(lazy_gettext("Ngôn ngữ"), choices=[
        ("vi", lazy_gettext("Tiếng Việt")), ("km", lazy_gettext("Tiếng Khmer (ភាសាខ្មែរ)")),
        ("en", "English")])
    planned_on = DateField(lazy_gettext("Ngày dự kiến"), validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập ngày hợp lệ."))])
    planned_time = StringField(lazy_gettext("Giờ (HH:MM)"), default="08:00", validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập giờ.")), Length(max=5)])
    unit = SelectField(lazy_gettext("Đơn vị phụ trách"), choices=[])

    def validate_planned_time(self, field):
        import re

        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", field.data or ""):
            raise ValidationError(_("Giờ phải có dạng HH:MM, ví dụ 06:30."))


class ScheduleForm(FlaskForm):
    account = SelectField(lazy_gettext("Tài khoản kênh"), choices=[], coerce=int)
    when = StringField(lazy_gettext("Thời điểm gửi (dd/mm/yyyy HH:MM)"), validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập thời điểm."))])
