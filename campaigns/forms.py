"""Web forms (Flask-WTF: CSRF on every form)."""

from __future__ import annotations

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
    preset = SelectField("Mẫu kế hoạch", choices=[], validate_choice=True)
    title = StringField("Tên chiến dịch", validators=[
        Length(max=200, message="Tên chiến dịch tối đa 200 ký tự.")])
    description = TextAreaField("Mô tả", validators=[Length(max=5000, message="Mô tả tối đa 5000 ký tự.")])
    starts_on = DateField("Ngày bắt đầu", validators=[Optional()],
                          render_kw={"placeholder": "yyyy-mm-dd"})
    ends_on = DateField("Ngày kết thúc", validators=[Optional()])
    owner_unit = SelectField("Đơn vị chủ trì", choices=[], validate_choice=True)
    scope = SelectMultipleField("Phạm vi (đơn vị được triển khai)", choices=[], validate_choice=True)
    target_url = StringField("Liên kết đích của mã QR", default="https://dichvucong.gov.vn", validators=[
        DataRequired(message="Vui lòng nhập liên kết."),
        URL(require_tld=False, message="Liên kết phải bắt đầu bằng http:// hoặc https://."),
        Length(max=500)])
    sms_class = SelectField("Loại tin nhắn SMS", choices=[
        ("public_service", "Thông tin dịch vụ công (không gắn [QC])"),
        ("advertising", "Quảng cáo (gắn [QC], cần nguồn đồng ý)")])
    grace_hours = IntegerField("Cho phép gửi trễ tối đa (giờ)", default=6, validators=[
        NumberRange(min=0, max=72, message="Từ 0 đến 72 giờ.")])

    def validate_title(self, field):
        if not self.preset.data and not (field.data or "").strip():
            raise ValidationError("Vui lòng nhập tên chiến dịch.")

    def validate_starts_on(self, field):
        if not self.preset.data and field.data is None:
            raise ValidationError("Vui lòng nhập ngày bắt đầu hợp lệ.")

    def validate_ends_on(self, field):
        if not self.preset.data and field.data is None:
            raise ValidationError("Vui lòng nhập ngày kết thúc hợp lệ.")
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError("Ngày kết thúc phải sau hoặc bằng ngày bắt đầu.")


class TransitionForm(FlaskForm):
    comment = TextAreaField("Nhận xét", validators=[Length(max=2000, message="Tối đa 2000 ký tự.")])


class ContentItemForm(FlaskForm):
    title = StringField("Tiêu đề", validators=[DataRequired(message="Vui lòng nhập tiêu đề."),
                                               Length(max=200, message="Tối đa 200 ký tự.")])
    body = TextAreaField("Nội dung", validators=[Length(max=20000, message="Tối đa 20000 ký tự.")])
    channel = SelectField("Kênh", choices=[])
    language = SelectField("Ngôn ngữ", choices=[("vi", "Tiếng Việt"), ("km", "Tiếng Khmer"), ("en", "English")])


class ItemForm(FlaskForm):
    title = StringField("Tiêu đề", validators=[DataRequired(message="Vui lòng nhập tiêu đề."),
                                               Length(max=200, message="Tiêu đề tối đa 200 ký tự.")])
    body = TextAreaField("Nội dung (viết một lần, dùng cho mọi kênh)", validators=[
        Length(max=20000, message="Nội dung tối đa 20000 ký tự.")])
    channel = SelectField("Kênh", choices=[])
    language = SelectField("Ngôn ngữ", choices=[("vi", "Tiếng Việt"), ("km", "Tiếng Khmer (ភាសាខ្មែរ)"),
                                                 ("en", "English")])
    planned_on = DateField("Ngày dự kiến", validators=[DataRequired(message="Vui lòng nhập ngày hợp lệ.")])
    planned_time = StringField("Giờ (HH:MM)", default="08:00", validators=[
        DataRequired(message="Vui lòng nhập giờ."), Length(max=5)])
    unit = SelectField("Đơn vị phụ trách", choices=[])

    def validate_planned_time(self, field):
        import re

        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", field.data or ""):
            raise ValidationError("Giờ phải có dạng HH:MM, ví dụ 06:30.")


class ScheduleForm(FlaskForm):
    account = SelectField("Tài khoản kênh", choices=[], coerce=int)
    when = StringField("Thời điểm gửi (dd/mm/yyyy HH:MM)", validators=[DataRequired(message="Vui lòng nhập thời điểm.")])
