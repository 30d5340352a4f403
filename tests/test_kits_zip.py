"""ZIP safety: relative NFC names, no '..', no absolute paths, UTF-8 flag, Windows-safe."""

from __future__ import annotations

import unicodedata
import zipfile

import pytest

from campaigns.kits.zipsafe import UTF8_FLAG, UnsafeName, safe_entry_name, safe_part, write_zip

NFD_NAME = unicodedata.normalize("NFD", "Áp phích A3 – Xã Lạc Hòa.pdf")

CASES = [
    ("README.txt", "README.txt"),
    ("../../etc/passwd", "etc/passwd"),
    ("/etc/shadow", "etc/shadow"),
    ("C:\\Windows\\system32\\x.dll", "Windows/system32/x.dll"),
    ("a/./b/../c.txt", "a/b/c.txt"),
    ("..\\..\\evil.bat", "evil.bat"),
    (NFD_NAME, "Áp phích A3 – Xã Lạc Hòa.pdf"),
    ("2. Truyền thanh/01. Bản tin: sáng?.docx", "2. Truyền thanh/01. Bản tin_ sáng_.docx"),
    ("CON.txt", "_CON.txt"),
    ("lpt1", "_lpt1"),
    ("tên\x00có\x07điều khiển.txt", "tên_có_điều khiển.txt"),
    ("  khoảng   trắng  .pdf", "khoảng trắng .pdf"),
    ("thư mục./tệp.", "thư mục/tệp"),
]


@pytest.mark.parametrize(("raw", "safe"), CASES)
def test_safe_entry_name(raw, safe):
    got = safe_entry_name(raw)
    assert got == safe
    assert got == unicodedata.normalize("NFC", got)
    assert not got.startswith("/") and ".." not in got.split("/") and "\\" not in got


@pytest.mark.parametrize("raw", ["", "/", "../..", "./.", "\\\\"])
def test_empty_names_are_refused(raw):
    with pytest.raises(UnsafeName):
        safe_entry_name(raw)


def test_long_names_keep_their_extension():
    part = safe_part("Bản tin " * 40 + ".docx")
    assert len(part) <= 120 and part.endswith(".docx")


def test_archive_entries_are_safe_and_flagged(tmp_path):
    src = tmp_path / "poster.pdf"
    src.write_bytes(b"%PDF-1.7 test")
    out = tmp_path / "kit.zip"
    sha, size, names = write_zip(
        out,
        [
            ("README.txt", "Hướng dẫn".encode()),
            (NFD_NAME, src),
            ("../../../tmp/evil.txt", b"x"),
            ("2. Truyền thanh/01. Bản tin.mp3", b"ID3" + b"\0" * 100),
            (
                "2. Truyền thanh/01. bản tin.MP3",
                b"ID3",
            ),  # differs only by case: must not collide on Windows
        ],
    )
    assert out.stat().st_size == size and len(sha) == 64
    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
        assert zf.testzip() is None
        assert [i.filename for i in infos] == names
        for info in infos:
            assert not info.filename.startswith("/") and ".." not in info.filename.split("/")
            assert info.filename == unicodedata.normalize("NFC", info.filename)
            if not info.filename.isascii():
                assert info.flag_bits & UTF8_FLAG, info.filename  # Explorer reads the name as UTF-8
        assert names[1] == "Áp phích A3 – Xã Lạc Hòa.pdf"
        assert names[2] == "tmp/evil.txt"
        assert len({n.casefold() for n in names}) == len(names)
        assert zf.read(names[1]) == b"%PDF-1.7 test"
        mp3 = zf.getinfo("2. Truyền thanh/01. Bản tin.mp3")
        assert mp3.compress_type == zipfile.ZIP_STORED  # already compressed: stored
        assert zf.getinfo("README.txt").compress_type == zipfile.ZIP_DEFLATED
    extract = tmp_path / "x"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(extract)
    assert all(p.resolve().is_relative_to(extract.resolve()) for p in extract.rglob("*"))


def test_same_inputs_give_the_same_archive(tmp_path):
    entries = [("README.txt", b"a"), ("Tệp.txt", b"b")]
    first = write_zip(tmp_path / "1.zip", entries)[0]
    second = write_zip(tmp_path / "2.zip", entries)[0]
    assert first == second


def test_raw_header_has_utf8_name_and_flag(tmp_path):
    """Read the local file header bytes directly, as Windows Explorer does."""
    out = tmp_path / "k.zip"
    write_zip(out, [("Lịch phát thanh.xlsx", b"data")])
    raw = out.read_bytes()
    assert raw[:4] == b"PK\x03\x04"
    flags = int.from_bytes(raw[6:8], "little")
    name_len = int.from_bytes(raw[26:28], "little")
    assert flags & 0x800
    assert raw[30 : 30 + name_len].decode("utf-8") == "Lịch phát thanh.xlsx"


#: names a kit holds (print, radio, schedule), with the letters unzip used to garble
KIT_NAMES = [
    "README.txt",
    "1. Ấn phẩm in/Áp phích A3 – Xã Lạc Hòa.pdf",
    "1. Ấn phẩm in/Tờ rơi A5 – Phường Vĩnh Phước.pdf",
    "2. Truyền thanh/01. Hưởng ứng Ngày Chuyển đổi số.mp3",
    "2. Truyền thanh/01. Hưởng ứng Ngày Chuyển đổi số.docx",
    "2. Truyền thanh/02. Đăng ký tài khoản định danh điện tử – Đồng bào Khmer.txt",
    "3. Lịch phát thanh.xlsx",
    NFD_NAME,
]


def unzip_names(archive, dest) -> list[str]:
    """Extract ``archive`` with Debian's Info-ZIP ``unzip`` in a UTF-8 locale and
    return the relative names of the files it wrote, as they are on disk."""
    import os
    import subprocess

    from tests._require import require_executable

    exe = require_executable("unzip", "unzip")
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    done = subprocess.run(
        [exe, "-q", "-o", str(archive), "-d", str(dest)], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    found = []
    for root, _dirs, files in os.walk(os.fsencode(dest)):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), os.fsencode(dest))
            found.append(rel.decode("utf-8"))  # raises on garbled (non-UTF-8) bytes
    return sorted(found)


def test_unzip_extracts_vietnamese_names_as_written(tmp_path):
    """Info-ZIP's unzip (Debian 6.0) reads entries made on MS-DOS as OEM text even
    with the UTF-8 flag; our entries are marked as made on Unix, so it keeps them."""
    out = tmp_path / "kit.zip"
    _sha, _size, names = write_zip(out, [(n, n.encode()) for n in KIT_NAMES])
    expected = sorted(unicodedata.normalize("NFC", n) for n in KIT_NAMES)
    assert sorted(names) == expected
    with zipfile.ZipFile(out) as zf:
        for info in zf.infolist():
            assert info.create_system == 3  # Unix
            assert info.external_attr >> 16 == 0o100644  # a regular file, rw-r--r--
    assert unzip_names(out, tmp_path / "x") == expected
    import os
    import subprocess

    listed = subprocess.run(
        ["unzip", "-Z1", str(out)], env={**os.environ, "LC_ALL": "C.UTF-8"}, capture_output=True
    )
    assert sorted(listed.stdout.decode("utf-8").splitlines()) == expected  # `unzip -l` lists them right
    extracted = tmp_path / "x" / "3. Lịch phát thanh.xlsx"
    assert extracted.read_bytes() == "3. Lịch phát thanh.xlsx".encode()
    assert oct(extracted.stat().st_mode & 0o777) == oct(0o644)
