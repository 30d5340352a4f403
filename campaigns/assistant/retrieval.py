"""Vietnamese retrieval for the citizens' assistant.

Works on plain data (a list of entry dicts with ``id``, ``key``, ``questions``), so the
benchmark and the web app use the same code:

* ``normalize`` folds a text: NFC, lower case, ``đ`` -> ``d``, diacritics removed, chat
  abbreviations expanded (``k``/``ko`` -> khong, ``dc``/``đc`` -> duoc, ``tk`` -> tai khoan,
  ``mk`` -> mat khau, ``sdt``, ``cccd``, ``dvc`` ...), so "dang ky tai khoan" and
  "đăng ký tài khoản" are the same text;
* typos: a syllable unknown to the knowledge base is replaced by a known one at edit
  distance 1 (a deletion neighbourhood, SymSpell style), the most frequent first;
* word segmentation: pyvi's ``ViTokenizer`` segments every knowledge-base phrasing (with its
  diacritics) once, when the index is built; its multi-syllable words become a lexicon that is
  matched greedily on the folded query, so a question typed without diacritics still gets
  ``dang_ky``, ``tai_khoan`` ... The model ships inside the pyvi wheel: nothing is downloaded;
* ranking: BM25 (``bm25s``) over syllables, syllable pairs and the lexicon's words; one
  document per phrasing, an entry scores as its best phrasing;
* confidence: the share of the question's content (IDF-weighted syllables and pairs) that the
  best phrasing covers, lowered when the runner-up entry is nearly as good. Below
  ``threshold`` the assistant hands the question on.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass

#: chat abbreviations and spelling variants -> folded words (applied per folded token)
ABBREVIATIONS: dict[str, str] = {
    "k": "khong", "ko": "khong", "kg": "khong", "khg": "khong", "hong": "khong", "hok": "khong", "kh": "khong",
    "dc": "duoc", "dk": "dang ky", "dky": "dang ky", "dki": "dang ky", "tk": "tai khoan", "mk": "mat khau",
    "pass": "mat khau", "password": "mat khau", "sdt": "so dien thoai", "dt": "dien thoai", "dthoai": "dien thoai",
    "cccd": "can cuoc", "cmnd": "can cuoc", "cc": "can cuoc", "dvc": "dich vu cong", "dvcqg": "dich vu cong quoc gia",
    "dvctt": "dich vu cong truc tuyen", "vneid": "vneid", "vnid": "vneid", "vneld": "vneid", "otp": "otp",
    "bhyt": "bao hiem y te", "bhxh": "bao hiem xa hoi", "gplx": "giay phep lai xe", "hs": "ho so",
    "ntn": "nhu the nao", "j": "gi", "ji": "gi", "z": "vay", "v": "vay", "lm": "lam", "ng": "nguoi",
    "bn": "bao nhieu", "bnhieu": "bao nhieu", "mn": "moi nguoi", "ad": "admin", "r": "roi", "ok": "duoc",
    "online": "truc tuyen", "onl": "truc tuyen", "app": "ung dung", "ap": "ung dung", "web": "trang",
    "website": "trang", "sms": "tin nhan", "tn": "tin nhan", "cmt": "can cuoc", "ubnd": "uy ban",
    "dinhdanh": "dinh danh", "sim": "so dien thoai", "login": "dang nhap", "hotline": "tong dai",
    "ck": "chuyen khoan", "stk": "so tai khoan", "ktra": "kiem tra", "bik": "biet", "bit": "biet",
    "wa": "qua", "dag": "dang", "nhìu": "nhieu", "nhiu": "nhieu", "ik": "di", "ak": "a", "uh": "u",
    "mún": "muon", "mun": "muon", "thui": "thoi", "hem": "khong", "hông": "khong", "trc": "truoc",
    "sd": "su dung", "sdung": "su dung", "cq": "co quan", "cb": "can bo", "gt": "giay to",
    "code": "ma", "sổ": "so", "nvien": "nhan vien", "nv": "nhan vien", "bc": "buu chinh",
}
#: multi-word variants (folded) -> the knowledge base's wording
PHRASES: dict[str, str] = {
    "bang lai": "giay phep lai xe", "bang lai xe": "giay phep lai xe", "so do": "giay chung nhan dat",
    "qua mang": "truc tuyen", "tren mang": "truc tuyen", "can cuoc cong dan": "can cuoc",
    "the can cuoc": "can cuoc", "dinh danh dien tu": "dinh danh vneid", "tai khoan dinh danh": "tai khoan vneid",
    "ma xac thuc": "ma otp", "ma xac nhan": "ma otp", "tong dai": "tong dai hotline",
    "so dien thoai": "so dien thoai", "giay khai sinh": "khai sinh", "giay chung tu": "khai tu",
}
#: function words: kept for pairs, not counted as content
STOPWORDS = set("""a ah ak ai anh ba bac bi cac cai can cho chi chu co con cua da dang day de den di do duoc em gi
ha hay hoi la lam len luc ma may minh mot muon nay nao ne nen nhe nhi nhu nhung no o oi roi sao se ta tai the thi
thoi thu toi tren trong tu u va vao vay ve voi xin duoc ah ạ khi phai giup hoac dum giup nhieu rat qua cung
ban oi nua chua bao nhieu ntn""".split())
_TOKEN_RE = re.compile(r"[0-9a-z]+")


def fold(text: str) -> str:
    """NFC, lower case, no diacritics (đ -> d)."""
    text = unicodedata.normalize("NFC", str(text or "")).lower().replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def normalize(text: str) -> list[str]:
    """Folded syllables with abbreviations and phrase variants expanded."""
    raw = unicodedata.normalize("NFC", str(text or "")).lower()
    words: list[str] = []
    for tok in re.findall(r"[\wđ]+", raw):
        if tok in ABBREVIATIONS:
            words.extend(ABBREVIATIONS[tok].split())
            continue
        f = fold(tok)
        words.extend(ABBREVIATIONS.get(f, f).split() if f in ABBREVIATIONS else _TOKEN_RE.findall(f))
    joined = " " + " ".join(words) + " "
    for src, dst in PHRASES.items():
        if f" {src} " in joined:
            joined = joined.replace(f" {src} ", f" {dst} ")
    return joined.split()


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


@dataclass
class Match:
    entry_id: int | None
    key: str | None
    confidence: float
    score: float


class Index:
    """BM25 over the approved phrasings; build once, query many times (thread-safe reads)."""

    def __init__(self, entries: list[dict], *, use_pyvi: bool = True):
        import bm25s

        self.entries = entries
        self.lexicon: set[tuple[str, ...]] = set()
        docs: list[list[str]] = []
        self.doc_entry: list[int] = []
        texts: list[tuple[int, str]] = []
        for i, entry in enumerate(entries):
            for q in entry.get("questions") or []:
                texts.append((i, q))
        if use_pyvi:
            self.lexicon = _pyvi_lexicon([t for _, t in texts])
        counts: Counter[str] = Counter()
        for _i, q in texts:
            for w in normalize(q):
                counts[w] += 1
        for entry in entries:  # the answers teach the typo corrector their words too
            for w in normalize(entry.get("answer") or ""):
                counts[w] += 1
        self.vocab = counts
        self.delete_map: dict[str, str] = {}
        for w, _n in counts.most_common():
            if len(w) >= 3:
                for d in _deletes(w):
                    self.delete_map.setdefault(d, w)
        for i, q in texts:
            docs.append(self.features(normalize(q)))
            self.doc_entry.append(i)
        self.df: Counter[str] = Counter()
        for d in docs:
            self.df.update(set(d))
        self.n_docs = max(1, len(docs))
        self.doc_sets = [set(d) for d in docs]
        self.bm25 = bm25s.BM25()
        if docs:  # an empty knowledge base hands every question on
            self.bm25.index(docs, show_progress=False)
        self.lock = threading.Lock()

    # -- text -> features ---------------------------------------------------------------------
    def correct(self, words: list[str]) -> list[str]:
        out = []
        for w in words:
            if w in self.vocab or w in STOPWORDS or len(w) < 3 or w.isdigit():
                out.append(w)
                continue
            cand = self.delete_map.get(w)  # a letter too many
            if cand is None:
                for d in sorted(_deletes(w)):  # a letter changed or missing
                    cand = self.delete_map.get(d) or (d if d in self.vocab and len(d) >= 3 else None)
                    if cand:
                        break
            if cand is None:
                for known in (w + c for c in "abcdefghiklmnopqrstuvxy"):
                    if known in self.vocab:
                        cand = known
                        break
            out.append(cand or w)
        return out

    def features(self, words: list[str]) -> list[str]:
        feats = [w for w in words if w not in STOPWORDS]
        feats += [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False) if not (a in STOPWORDS and b in STOPWORDS)]
        n = len(words)
        for size in (3, 4):
            for i in range(n - size + 1):
                gram = tuple(words[i:i + size])
                if gram in self.lexicon:
                    feats.append("_".join(gram))
        return feats

    def idf(self, feat: str) -> float:
        return math.log(1 + self.n_docs / (1 + self.df.get(feat, 0)))

    # -- query --------------------------------------------------------------------------------
    def query(self, question: str) -> list[Match]:
        words = self.correct(normalize(question))
        feats = self.features(words)
        if not feats or not self.doc_entry:
            return [Match(None, None, 0.0, 0.0)]
        with self.lock:
            scores = self.bm25.get_scores(feats)
        best: dict[int, tuple[float, int]] = {}
        for doc, score in enumerate(scores):
            e = self.doc_entry[doc]
            if score > best.get(e, (-1.0, -1))[0]:
                best[e] = (float(score), doc)
        ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)
        # content: every syllable (unknown ones weigh most) and pair; a pair the knowledge base
        # never uses weighs half (often word order or filler, not meaning)
        content = set(feats)
        weight = {f: self.idf(f) * (0.5 if "_" in f and not self.df.get(f) else 1.0) for f in content}
        total = sum(weight.values()) or 1.0
        out: list[Match] = []
        for e, (score, doc) in ranked[:3]:
            covered = sum(weight[f] for f in content if f in self.doc_sets[doc]) / total
            out.append(Match(self.entries[e].get("id"), self.entries[e].get("key"), covered, score))
        if len(out) > 1 and out[0].score > 0:
            margin = (out[0].score - out[1].score) / out[0].score
            out[0].confidence = round(min(1.0, out[0].confidence * (0.75 + 0.5 * min(margin, 0.5))), 3)
        return out


def _pyvi_lexicon(texts: list[str]) -> set[tuple[str, ...]]:
    """Multi-syllable words found by pyvi's segmenter in the phrasings (folded)."""
    try:
        from pyvi import ViTokenizer
    except ImportError:  # pragma: no cover - pinned in requirements.txt
        return set()
    lex: set[tuple[str, ...]] = set()
    for t in texts:
        for word in ViTokenizer.tokenize(unicodedata.normalize("NFC", t)).split():
            if "_" in word:
                parts = tuple(p for w in word.split("_") for p in normalize(w))
                if 2 <= len(parts) <= 4:
                    lex.add(parts)
    return lex
