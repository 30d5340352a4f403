"""The bulk import's block path (``RecipientReader.copy_text``) gives exactly
what the row-by-row path gives (``tuples(fields_json=True)`` formatted by the
COPY writer): the same COPY text, report (counts, carriers, kept errors) and
rejected-rows file, on files made to hit every branch -- every phone spelling
(``0``/``+84``/``84``/none, spaces, dots, dashes, old 11-digit numbers,
full-width digits, foreign, landline, letters, blank), quoted cells with
commas, quotes, tabs and line breaks, backslashes, control characters,
decomposed (NFD) Vietnamese, over-long cells, CRLF, blank and short lines,
stray quotes, ``;`` and tab delimiters -- with tiny blocks so records and
quoted cells straddle block boundaries."""

from __future__ import annotations

import io
import itertools
import random

import pytest

from scheduler.sms import importer
from scheduler.sms.importer import RecipientReader, _copy_rows, read_recipients
from tests.helpers import ChunkStream


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)


NATS = ["912345678", "987654321", "362223334", "703334445", "886667778", "563334445",
        "593334445", "812223334", "993334445", "896667778"]


def _phone(rng: random.Random, nat: str) -> str:
    return rng.choice([
        f"0{nat}",
        f"0{nat}",
        f"0{nat[:3]} {nat[3:6]} {nat[6:]}",
        f"+84 {nat[:3]} {nat[3:6]} {nat[6:]}",
        f"+84{nat}",
        f"84{nat}",
        nat,
        f"0{nat[:4]}.{nat[4:7]}.{nat[7:]}",
        f"0{nat[:3]}-{nat[3:6]}-{nat[6:]}",
        f"  0{nat}  ",
        f"0{nat}".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        f"0{nat[:5]}{chr(0x0663)}{nat[6:]}",  # an Arabic-Indic digit
    ])


INVALID = ["", "   ", "0912abc123", "+1 415 555 2671", "02993123456", "0891234567", "09123",
           "0912345678901234567890123", "=1+2", "@x", "0012345678", "84123", "841234567",
           "+840912345678", "1234567890", "01993334445", "01003334445", "0 9 1 2 3 4 5 6 7 8"]
OLD = ["01623334445", "01213334445", "01993334445", "+84 1623334445", "1623334445"]
CELLS = ["Nguyễn Văn An", "Phường 1", "Lê Thị, Bình", 'Trần "Út"', "a\\b", "tab\there",
         "hai\ndòng", "crlf\r\nline", "Nguye\u0302\u0303n", "ctrl\x01x", "x" * 1200,
         " lề ", "=SUM(A1)", "", "Ðặng", "\u00a0nbsp"]


def _make(rng: random.Random, rows: int, delim: str, crlf: bool, weird: float) -> str:
    out = io.StringIO()
    import csv

    w = csv.writer(out, delimiter=delim, lineterminator="\r\n" if crlf else "\n")
    w.writerow(["Họ và tên", "Số điện thoại", "Xã/Phường", "Ghi chú"])
    for _ in range(rows):
        u = rng.random()
        if u < 0.08:
            phone = rng.choice(INVALID)
        elif u < 0.12:
            phone = rng.choice(OLD)
        else:
            nat = rng.choice(NATS[:-1]) if rng.random() < 0.3 else (
                rng.choice("3789") + f"{rng.randrange(10**8):08d}")
            phone = _phone(rng, nat)
        if rng.random() < weird:
            cells = [rng.choice(CELLS), phone, rng.choice(CELLS), rng.choice(CELLS)]
        else:
            cells = ["Phạm Văn Minh", phone, f"Phường {rng.randint(1, 9)}", ""]
        v = rng.random()
        if v < 0.02:
            out.write("\r\n" if crlf else "\n")  # a blank line
            continue
        if v < 0.03:
            cells = cells[:2]  # a short row
        elif v < 0.04:
            cells = cells[:1]
        w.writerow(cells)
    return out.getvalue()


def _both(data: bytes, **kw):
    """(COPY text, report, rejects) by the block path and by the row path."""
    results = []
    for block in (True, False):
        rejects = io.StringIO()
        reader = read_recipients(io.BytesIO(data), "ds.csv", rejects=rejects, **kw)
        sink = _Sink()
        if block:
            assert reader.can_copy_text()
            _copy_rows(sink, "7\t", reader)
        else:
            _copy_rows(sink, "7\t", reader.tuples(fields_json=True))
        r = reader.report
        report = (r.rows, r.valid, r.invalid, r.duplicates, r.converted, dict(r.by_carrier),
                  list(r.errors), r.finished)
        results.append((b"".join(sink.parts).decode("utf-8"), report, rejects.getvalue()))
    return results


@pytest.mark.parametrize("block_size", [64, 700, 1 << 20])
@pytest.mark.parametrize(
    "delim,crlf,weird,encoding",
    [
        (",", False, 0.0, "utf-8"),
        (",", True, 0.3, "utf-8-sig"),
        (";", False, 0.3, "utf-8"),
        ("\t", True, 0.3, "utf-8"),
        (",", False, 0.05, "utf-16"),
    ],
)
def test_block_path_equals_row_path(monkeypatch, block_size, delim, crlf, weird, encoding):
    monkeypatch.setattr(importer, "_BLOCK", block_size)
    rng = random.Random(f"{block_size}{delim}{crlf}{weird}{encoding}")
    data = _make(rng, 1500, delim, crlf, weird).encode(encoding)
    (fast_text, fast_report, fast_rej), (slow_text, slow_report, slow_rej) = _both(data)
    assert fast_text == slow_text
    assert fast_report == slow_report
    assert fast_rej == slow_rej
    # the file really exercised the paths
    assert slow_report[1] > 500 and slow_report[2] > 50 and slow_report[3] > 50
    assert slow_report[4] > 0


def test_plain_file_takes_the_plain_path_and_counts_right(monkeypatch):
    monkeypatch.setattr(importer, "_BLOCK", 4096)
    rng = random.Random(5)
    data = _make(rng, 3000, ",", False, 0.0).encode()
    reader = read_recipients(io.BytesIO(data), "ds.csv")
    kinds = {kind for kind, _ in reader._csv_blocks()}
    assert kinds == {"plain"}
    (fast_text, fast_report, _), (slow_text, slow_report, _) = _both(data)
    assert fast_text == slow_text and fast_report == slow_report


@pytest.mark.parametrize(
    "tail",
    [
        'Lê Văn "Tư",0912345678,Phường 1,x\n',  # a quote inside an unquoted cell
        'An,0987654321,"Phường\n2,x\n',  # an unclosed quoted cell to the end
        'An,"09876""54321",Phường 2,x\n',
    ],
)
def test_odd_quotes_fall_back_to_one_csv_reader(monkeypatch, tail):
    monkeypatch.setattr(importer, "_BLOCK", 64)
    head = "Họ và tên,Số điện thoại,Xã/Phường,Ghi chú\n" + "".join(
        f"Tên {i},09123450{i:02d},Phường {i},\n" for i in range(40)
    )
    data = (head + tail + "".join(f"B {i},09873450{i:02d},P,\n" for i in range(40))).encode()
    (fast_text, fast_report, fast_rej), (slow_text, slow_report, slow_rej) = _both(data)
    assert (fast_text, fast_report, fast_rej) == (slow_text, slow_report, slow_rej)
    assert slow_report[1] >= 41  # (an unclosed quote takes the rest of the file)


def test_csv_errors_name_the_same_line(monkeypatch):
    import csv

    monkeypatch.setattr(importer, "_BLOCK", 64)
    big = "x" * (csv.field_size_limit() + 10)
    data = ("SĐT,Ghi chú\n" + "0912345678,a\n" * 5 + f'0987654321,"{big}"\n').encode()
    messages = []
    for block in (True, False):
        reader = read_recipients(io.BytesIO(data), "ds.csv")
        with pytest.raises(importer.ImportError_) as exc:
            if block:
                _copy_rows(_Sink(), "1\t", reader)
            else:
                _copy_rows(_Sink(), "1\t", reader.tuples(fields_json=True))
        messages.append(exc.value.message)
    assert messages[0] == messages[1]
    assert "dòng 7" in messages[0]


def test_block_path_not_used_after_iteration_started():
    data = "SĐT\n0912345678\n0987654321\n".encode()
    reader = read_recipients(io.BytesIO(data), "ds.csv")
    it = iter(reader)
    next(it)
    assert not reader.can_copy_text()
    assert isinstance(reader, RecipientReader)


def _generated(rows: int) -> ChunkStream:
    """A lazily generated upload of distinct valid numbers (every row kept)."""
    head = "Họ và tên,Số điện thoại,Xã/Phường\n".encode()
    body = (
        "".join(
            f"Nguyễn Văn {i % 97},09{(start + i) % 10**8:08d},Phường {i % 9}\n"
            for i in range(1000)
        ).encode()
        for start in range(0, rows, 1000)
    )
    return ChunkStream(itertools.chain([head], body))


def _peak(rows: int) -> tuple[int, int]:
    import tracemalloc

    from scheduler.sms.phones import normalize_phone

    normalize_phone("0912345678")  # phonenumbers' metadata, loaded once per process
    tracemalloc.start()
    try:
        reader = read_recipients(_generated(rows), "big.csv")
        size = 0
        for chunk in reader.copy_text("1\t"):
            size += len(chunk.encode("utf-8"))  # what the COPY sender gets, then dropped
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.report.valid == rows and size > rows * 40
    return peak, size


def test_block_path_memory_does_not_grow_with_the_rows():
    small, _ = _peak(30_000)
    large, size = _peak(150_000)
    # a block of text, its lines and its COPY text: a few MB whatever the file
    assert large < 16_000_000, large
    assert large < small * 1.3, (small, large)
    assert size > large  # more COPY text went through than was ever held
