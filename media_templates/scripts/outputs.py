"""Script outputs: DOCX (what offices edit and print), PDF (vector text,
Be Vietnam Pro + Noto Sans Khmer with shaping), TXT and audio (WAV/MP3).

``meta`` keys (all optional, falling back to the script's data):
``unit_name``, ``campaign_title``, ``date`` (date, datetime, "YYYY-MM-DD" or
"dd/mm/yyyy"; default today in Asia/Ho_Chi_Minh), ``title``, ``slots``
(broadcast times as text, e.g. ["Thứ 2, 4, 6 lúc 06:00 và 17:00"]),
``include_reading`` (default True: append the reading version).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any

from .render import Script, ScriptError, format_duration, render_script

HEADING = "KỊCH BẢN PHÁT THANH"
READING_HEADING = "Bản đọc (số, ngày giờ, từ viết tắt, địa chỉ web đã viết thành chữ)"
NOTES_HEADING = "Ghi chú cho phát thanh viên"
KHMER_DOCX_FONT = "Khmer UI"  # ships with Windows; Noto Sans Khmer also works where installed


def _nfc(value: object) -> str:
    return unicodedata.normalize("NFC", str(value))


def _format_date(value: Any) -> str:
    if value is None or value == "":
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, str):
        text = value.strip()
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return dt.datetime.strptime(text[:10], fmt).strftime("%d/%m/%Y")
            except ValueError:
                continue
    raise ScriptError(
        f"Ngày '{value}' không hợp lệ: dùng dạng dd/mm/yyyy hoặc YYYY-MM-DD.", field="date"
    )


def header_fields(script: Script, meta: dict | None) -> dict[str, str]:
    """The four header facts every output shows: unit, campaign, date, duration."""
    if meta is not None and not isinstance(meta, dict):
        raise ScriptError("Thông tin đầu trang (meta) phải là một bảng.", field="meta")
    meta = meta or {}
    unit = meta.get("unit_name") or script.data.get("unit_name") or "—"
    campaign = meta.get("campaign_title") or script.data.get("campaign_title") or "—"
    return {
        "unit": _nfc(unit),
        "campaign": _nfc(campaign),
        "date": _format_date(meta.get("date")),
        "duration": f"khoảng {format_duration(script.estimated_seconds)}",
        "title": _nfc(meta.get("title") or script.title or HEADING),
    }


def _notes(script: Script) -> list[str]:
    notes = list(script.warnings)
    notes.append(f"Tốc độ đọc dùng để ước tính: {script.syllables_per_minute} âm tiết/phút.")
    return notes


# ---------------------------------------------------------------------- TXT


def script_to_txt(script: Script, meta: dict | None = None) -> bytes:
    """UTF-8 with BOM and CRLF line ends, so Windows Notepad shows Vietnamese right."""
    h = header_fields(script, meta)
    lines = [
        HEADING,
        h["title"],
        f"Đơn vị: {h['unit']}",
        f"Chiến dịch: {h['campaign']}",
        f"Ngày: {h['date']}",
        f"Thời lượng ước tính: {h['duration']}",
    ]
    for slot in (meta or {}).get("slots") or []:
        lines.append(f"Lịch phát: {_nfc(slot)}")
    lines.append("")
    for s in script.sections:
        if s.title:
            lines += [f"[{s.title.upper()}] ({format_duration(s.estimated_seconds)})"]
        lines += [s.text, ""]
    if (meta or {}).get("include_reading", True):
        lines += ["=" * 40, READING_HEADING, ""]
        for s in script.sections:
            if s.title:
                lines.append(f"[{s.title.upper()}]")
            lines += [s.reading_text, ""]
    lines += ["=" * 40, NOTES_HEADING] + [f"- {n}" for n in _notes(script)]
    text = "\r\n".join(_nfc(line).replace("\n", "\r\n") for line in lines) + "\r\n"
    return b"\xef\xbb\xbf" + text.encode("utf-8")


# --------------------------------------------------------------------- DOCX


def _has_khmer(text: str) -> bool:
    return any("\u1780" <= c <= "\u17ff" for c in text)


def _set_run_fonts(run, latin: str, complex_script: str | None = None) -> None:
    from docx.oxml.ns import qn

    run.font.name = latin
    rpr = run._element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia"):
        fonts.set(qn(attr), latin)
    fonts.set(qn("w:cs"), complex_script or latin)


#: control characters XML cannot hold (python-docx refuses them); tab and newline stay
_XML_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _add_text(paragraph, text: str, *, bold: bool = False, size: float | None = None) -> None:
    from docx.shared import Pt

    # user text is written as plain text: a pasted control character is dropped
    # instead of failing the whole document (the rule of core/tabular.py)
    text = _XML_CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    # Split Khmer and non-Khmer runs so Word picks the complex-script font.
    for chunk in re.findall(
        r"[\u1780-\u17ff\u19e0-\u19ff]+(?:\s+[\u1780-\u17ff\u19e0-\u19ff]+)*|[^\u1780-\u17ff\u19e0-\u19ff]+",
        text,
    ):
        run = paragraph.add_run(chunk)
        run.bold = bold
        if size:
            run.font.size = Pt(size)
        _set_run_fonts(run, "Times New Roman", KHMER_DOCX_FONT if _has_khmer(chunk) else None)


def script_to_docx(script: Script, meta: dict | None = None) -> bytes:
    """A Word file: page header naming unit and campaign, a facts table
    (unit, campaign, date dd/mm/yyyy, duration), the script by section, the
    reading version and notes. Times New Roman 14 pt, A4."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    h = header_fields(script, meta)
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.5)
    section.top_margin = section.bottom_margin = Cm(2)
    normal = doc.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(14)

    header_p = section.header.paragraphs[0]
    _add_text(header_p, f"{h['unit']} — {h['campaign']}", size=10)
    header_p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    header_p2 = section.header.add_paragraph()
    _add_text(header_p2, f"Ngày {h['date']} · Thời lượng {h['duration']}", size=10)
    header_p2.alignment = WD_ALIGN_PARAGRAPH.RIGHT

    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _add_text(title, HEADING, bold=True, size=16)
    subtitle = doc.add_paragraph()
    subtitle.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _add_text(subtitle, h["title"], size=13)

    rows = [
        ("Đơn vị", h["unit"]),
        ("Chiến dịch", h["campaign"]),
        ("Ngày", h["date"]),
        ("Thời lượng ước tính", h["duration"]),
    ]
    rows += [("Lịch phát", _nfc(s)) for s in (meta or {}).get("slots") or []]
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].paragraphs[0].text = ""
        _add_text(cells[0].paragraphs[0], label, bold=True, size=12)
        _add_text(cells[1].paragraphs[0], value, size=12)

    doc.add_paragraph()
    for s in script.sections:
        if s.title:
            p = doc.add_paragraph()
            _add_text(p, f"{s.title} ({format_duration(s.estimated_seconds)})", bold=True)
        for para in s.text.split("\n"):
            if para.strip():
                _add_text(doc.add_paragraph(), para)

    if (meta or {}).get("include_reading", True):
        doc.add_page_break()
        p = doc.add_paragraph()
        _add_text(p, READING_HEADING, bold=True)
        for s in script.sections:
            if s.title:
                _add_text(doc.add_paragraph(), s.title, bold=True)
            for para in s.reading_text.split("\n"):
                if para.strip():
                    _add_text(doc.add_paragraph(), para)

    p = doc.add_paragraph()
    _add_text(p, NOTES_HEADING, bold=True, size=12)
    for note in _notes(script):
        _add_text(doc.add_paragraph(style="List Bullet"), note, size=12)

    props = doc.core_properties
    props.title = _XML_CONTROLS.sub("", f"{HEADING}: {h['campaign']}")[:250]
    props.author = _XML_CONTROLS.sub("", h["unit"])[:250]
    props.language = "vi-VN"
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------- PDF


def _font_paths() -> dict[str, str]:
    import fontpkg_be_vietnam_pro as vn

    return {
        "regular": str(vn.ROOT / "files" / "BeVietnamPro-Regular.ttf"),
        "bold": str(vn.ROOT / "files" / "BeVietnamPro-Bold.ttf"),
    }


_khmer_lock = threading.Lock()


def _khmer_font(weight: int) -> str:
    """A static instance of the variable Noto Sans Khmer at ``weight``.

    Instancing a variable font takes about a second, so it is done once and
    cached on disk (the temp dir, keyed by the source file's size and mtime).
    """
    import tempfile

    import fontpkg_noto_sans_khmer as km

    source = next((km.ROOT / "files").glob("NotoSansKhmer*.ttf"))
    stat = source.stat()
    cache = Path(tempfile.gettempdir()) / "lantoa-fonts"
    target = cache / f"NotoSansKhmer-{weight}-{stat.st_size}-{int(stat.st_mtime)}.ttf"
    if target.is_file():
        return str(target)
    with _khmer_lock:
        if target.is_file():
            return str(target)
        from fontTools.ttLib import TTFont
        from fontTools.varLib.instancer import instantiateVariableFont

        font = TTFont(str(source))
        axes = {a.axisTag: a for a in font["fvar"].axes} if "fvar" in font else {}
        if axes:
            limits = {"wght": weight}
            if "wdth" in axes:
                limits["wdth"] = 100
            font = instantiateVariableFont(font, limits)
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".ttf")
        os.close(fd)
        font.save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)  # atomic: other processes see a whole file or none
    return str(target)


def script_to_pdf(script: Script, meta: dict | None = None) -> bytes:
    """A4 PDF with vector text: Be Vietnam Pro for Vietnamese, Noto Sans Khmer
    (shaped by HarfBuzz) for Khmer, a header/footer on every page."""
    from fpdf import FPDF

    h = header_fields(script, meta)
    fonts = _font_paths()

    class _Pdf(FPDF):
        def header(self) -> None:
            self.set_font("BeVietnamPro", size=8.5)
            self.set_text_color(90, 90, 90)
            self.cell(
                0, 5, f"{h['unit']} — {h['campaign']}", align="R", new_x="LMARGIN", new_y="NEXT"
            )
            self.set_text_color(0, 0, 0)
            self.ln(3)

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("BeVietnamPro", size=8.5)
            self.set_text_color(90, 90, 90)
            self.cell(0, 5, f"Ngày {h['date']} · Trang {self.page_no()}/{{nb}}", align="C")

    pdf = _Pdf(format="A4", unit="mm")
    pdf.set_margins(20, 16, 20)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_font("BeVietnamPro", "", fonts["regular"])
    pdf.add_font("BeVietnamPro", "B", fonts["bold"])
    pdf.set_text_shaping(True)
    khmer_text = script.text + " ".join(str(v) for v in h.values())
    if _has_khmer(khmer_text) or _has_khmer(
        " ".join(str(x) for x in (meta or {}).get("slots") or [])
    ):
        pdf.add_font("NotoSansKhmer", "", _khmer_font(400))
        pdf.add_font("NotoSansKhmer", "B", _khmer_font(700))
        pdf.set_fallback_fonts(["NotoSansKhmer"])
    pdf.set_title(f"{HEADING}: {h['campaign']}")
    pdf.set_author(h["unit"])
    pdf.set_lang("vi-VN")
    pdf.add_page()

    def para(
        text: str, *, size: float = 12, bold: bool = False, gap: float = 1.5, align: str = "L"
    ) -> None:
        pdf.set_font("BeVietnamPro", "B" if bold else "", size=size)
        pdf.multi_cell(0, size * 0.5, text, align=align, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    para(HEADING, size=16, bold=True, align="C", gap=1)
    para(h["title"], size=12, align="C", gap=4)
    facts = [("Đơn vị", h["unit"]), ("Chiến dịch", h["campaign"]), ("Ngày", h["date"]),
             ("Thời lượng ước tính", h["duration"])]  # fmt: skip
    facts += [("Lịch phát", _nfc(s)) for s in (meta or {}).get("slots") or []]
    for label, value in facts:
        pdf.set_font("BeVietnamPro", "B", size=11)
        pdf.cell(45, 6.5, label, border=1)
        pdf.set_font("BeVietnamPro", "", size=11)
        pdf.multi_cell(0, 6.5, value, border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    for s in script.sections:
        if s.title:
            para(f"{s.title} ({format_duration(s.estimated_seconds)})", size=12.5, bold=True, gap=1)
        for line in s.text.split("\n"):
            if line.strip():
                para(line, size=12.5)
        pdf.ln(2)
    if (meta or {}).get("include_reading", True):
        pdf.add_page()
        para(READING_HEADING, size=12.5, bold=True, gap=3)
        for s in script.sections:
            if s.title:
                para(s.title, size=12, bold=True, gap=1)
            for line in s.reading_text.split("\n"):
                if line.strip():
                    para(line, size=12)
    pdf.ln(3)
    para(NOTES_HEADING, size=11, bold=True, gap=1)
    for note in _notes(script):
        para(f"• {note}", size=10.5, gap=0.8)
    return bytes(pdf.output())


# -------------------------------------------------------------------- audio


def script_audio(
    script: Script,
    *,
    voice: str = "vi",
    mp3: bool = True,
    jingle: bytes | None = None,
    engine: Any = None,
    target_lufs: float = -16.0,
    true_peak_db: float = -1.5,
    bitrate_kbps: int = 64,
) -> dict[str, bytes]:
    """Speak the script's reading text: {"wav": ..., "mp3": ...}.

    Loudness is normalised to ``target_lufs`` (EBU R128 integrated loudness,
    so every file plays at the same level) with true peaks limited to
    ``true_peak_db`` (-1.5 dBTP leaves the MP3 room for its encoding
    overshoot under the -1 dBTP that radio desks ask for). A jingle is mixed
    under the levelled speech, and the mix levelled again. Khmer text raises
    :class:`~media_templates.speech.NoVoiceError` (a SpeechError) with a note;
    callers building kits skip the audio and show that note.
    """
    from media_templates.speech import mix_jingle, normalize_loudness, synthesize, wav_to_mp3
    from media_templates.speech.audio import normalize_for_broadcast

    wav = synthesize(
        script.reading_text,
        voice,
        engine=engine,
        syllables_per_minute=script.syllables_per_minute,
        normalise=False,
    )
    if jingle is not None:
        # the bed is ducked relative to the levelled voice; the intro and outro
        # change the programme's loudness and peaks: the mix is levelled below
        wav = mix_jingle(normalize_loudness(wav, target_lufs, true_peak_db=true_peak_db), jingle)
    if not mp3:
        return {"wav": normalize_loudness(wav, target_lufs, true_peak_db=true_peak_db)}
    # the MP3's input gets 1 dB more headroom for the coding overshoot
    wav, mp3_input = normalize_for_broadcast(
        wav, target_lufs, true_peak_db=true_peak_db, mp3_true_peak_db=min(true_peak_db - 1.0, -2.5)
    )
    return {"wav": wav, "mp3": wav_to_mp3(mp3_input, bitrate_kbps, true_peak_db=None)}


# ------------------------------------------------------------------- bundle


def script_files(
    data: dict,
    meta: dict | None = None,
    *,
    template: str = "loudspeaker_default",
    basename: str = "kich-ban-phat-thanh",
    formats: tuple[str, ...] = ("docx", "pdf", "txt", "wav", "mp3"),
    voice: str = "vi",
    jingle: bytes | None = None,
    **render_options: Any,
) -> tuple[dict[str, bytes], Script, list[str]]:
    """Everything a kit needs for one script: ``({file name: bytes}, script, notes)``.

    Audio that cannot be made (Khmer text without a Khmer voice, an engine
    error) is left out and its Vietnamese note added to ``notes``, after the
    script's own warnings; a bad template or data still raises ScriptError.
    """
    from media_templates.speech import SpeechError

    allowed = {"docx", "pdf", "txt", "wav", "mp3"}
    unknown = [f for f in formats if f not in allowed]
    if unknown:
        raise ScriptError(f"Định dạng không hỗ trợ: {', '.join(unknown)}.", field="formats")
    if not re.fullmatch(r"[\w.-]{1,80}", basename):
        raise ScriptError("Tên tệp chỉ gồm chữ, số, dấu chấm, gạch ngang.", field="basename")
    script = render_script(data, template=template, **render_options)
    notes = list(script.warnings)
    files: dict[str, bytes] = {}
    if "docx" in formats:
        files[f"{basename}.docx"] = script_to_docx(script, meta)
    if "pdf" in formats:
        files[f"{basename}.pdf"] = script_to_pdf(script, meta)
    if "txt" in formats:
        files[f"{basename}.txt"] = script_to_txt(script, meta)
    if "wav" in formats or "mp3" in formats:
        try:
            audio = script_audio(script, voice=voice, mp3="mp3" in formats, jingle=jingle)
        except SpeechError as exc:
            if exc.message not in notes:
                notes.append(exc.message)
        else:
            if "wav" in formats:
                files[f"{basename}.wav"] = audio["wav"]
            if "mp3" in formats:
                files[f"{basename}.mp3"] = audio["mp3"]
    return files, script, notes
