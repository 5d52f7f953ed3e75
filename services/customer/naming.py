"""Company names: normalise them, spell them in pinyin, spot likely duplicates.

"上海商策科技有限公司", "商策科技(上海)有限公司" and "商策科技 有限公司" are one company to a
salesperson; the users' manual asks for a 同名检查 before a customer is saved. The
normalised name is what the unique duplicate check compares; the pinyin forms let a user
type `sckj` or `shangce` to find 商策科技.

Pure functions (no I/O); the repository stores `normalize_name`, `pinyin_full` and
`pinyin_initials` of each customer's name so that searches hit an index.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style
from pypinyin.converter import UltimateConverter
from pypinyin.core import Pinyin

# Legal-form words at the end of a Chinese company name, longest first. Stripped
# repeatedly: 集团股份有限公司 -> 集团股份 -> 集团 -> "".
CHINESE_SUFFIXES = (
    "股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "责任公司", "股份公司",
    "集团公司", "控股公司", "总公司", "公司", "股份", "集团", "控股",
)
# Legal-form words of Latin-script names, compared as whole words.
LATIN_SUFFIXES = {
    "co", "company", "ltd", "limited", "inc", "incorporated", "corp", "corporation",
    "llc", "plc", "gmbh", "group", "holdings", "holding", "sa", "ag", "bv", "pte",
}
PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港",
    "澳门",
)
CITIES = (
    "深圳", "广州", "杭州", "南京", "苏州", "武汉", "成都", "西安", "青岛", "大连", "宁波",
    "厦门", "无锡", "长沙", "郑州", "济南", "合肥", "福州", "沈阳", "哈尔滨", "长春", "昆明",
    "南宁", "南昌", "贵阳", "石家庄", "太原", "兰州", "西宁", "银川", "乌鲁木齐", "拉萨",
    "呼和浩特", "海口", "三亚", "东莞", "佛山", "珠海", "中山", "惠州", "温州", "绍兴", "嘉兴",
    "金华", "台州", "常州", "南通", "扬州", "徐州", "烟台", "潍坊", "淄博", "泉州", "漳州",
    "洛阳", "唐山", "保定", "廊坊", "秦皇岛", "鞍山", "大庆", "芜湖", "镇江", "盐城", "湖州",
    "江门", "汕头", "湛江", "柳州", "桂林", "绵阳", "宜昌", "襄阳", "株洲", "岳阳", "赣州",
    "九江", "威海", "日照", "临沂", "济宁", "包头", "鄂尔多斯", "昆山", "义乌",
)
PLACE_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
# A name reduced to one of these after dropping its place is not a company any more
# ("中山大学" must not become "大学" and collide with every other university).
GENERIC_REMAINDERS = {
    "大学", "学院", "银行", "医院", "中学", "小学", "科技", "贸易", "商贸", "实业", "电视台",
    "日报", "研究院", "研究所", "商行", "超市", "酒店", "物流", "电子", "软件", "网络",
}
_PLACES = tuple(sorted(set(PROVINCES + CITIES), key=len, reverse=True))
_PLACE_WORDS = {p + s for p in _PLACES for s in ("",) + PLACE_SUFFIXES} | {"中国", "中华"}
_BRACKETED = re.compile(r"[(\[{【（]([^()\[\]{}【】（）]*)[)\]}】）]")
_LATIN_WORD = re.compile(r"[a-z0-9]+")


class _WordCache(UltimateConverter):
    """pypinyin's own conversion (what `pypinyin.lazy_pinyin` uses), remembered per
    segmented word and style: company names repeat their words (上海, 科技, 有限公司), and
    the conversion was most of the cost of a customer's search terms (an import)."""

    @lru_cache(maxsize=65536)
    def _converted(self, words, style, heteronym, errors, strict):
        return tuple(tuple(item) for item in super().convert(
            words, style, heteronym, errors, strict))

    def convert(self, words, style, heteronym, errors, strict, **kwargs):
        if not isinstance(errors, str):   # a callable: not a cache key
            return super().convert(words, style, heteronym, errors, strict, **kwargs)
        return [list(item) for item in self._converted(words, style, heteronym, errors,
                                                       strict)]


_PINYIN = Pinyin(_WordCache())


def lazy_pinyin(text: str, style=Style.NORMAL, errors: str = "default") -> list[str]:
    """`pypinyin.lazy_pinyin` (with its defaults) through the word cache."""
    return _PINYIN.lazy_pinyin(text, style=style, errors=errors)


def _fold(text: str) -> str:
    """Full-width to half-width, compatibility forms, lower case."""
    return unicodedata.normalize("NFKC", text or "").lower().strip()


def _drop_punctuation(text: str) -> str:
    return "".join(ch for ch in text
                   if not unicodedata.category(ch).startswith(("P", "S", "Z", "C")))


def _drop_place_brackets(text: str) -> str:
    """'商策科技(上海)有限公司' -> '商策科技有限公司'; other brackets keep their words."""
    def replace(match: re.Match) -> str:
        inside = match.group(1).strip()
        return "" if inside in _PLACE_WORDS or inside in ("集团", "控股") else inside
    return _BRACKETED.sub(replace, text)


def _drop_latin_suffixes(text: str) -> str:
    words = _LATIN_WORD.findall(text)
    if not words or len(words) < 2 or not re.fullmatch(r"[a-z0-9\s.,&'\-]+", text):
        return text
    while len(words) > 1 and words[-1] in LATIN_SUFFIXES:
        words.pop()
    return " ".join(words)


def _drop_chinese_suffixes(text: str) -> str:
    changed = True
    while changed:
        changed = False
        for suffix in CHINESE_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                changed = True
                break
    return text


def _drop_place_prefixes(text: str) -> str:
    """'广东省深圳市商策' -> '商策', unless only a generic word would be left."""
    changed = True
    while changed:
        changed = False
        for place in _PLACES:
            if not text.startswith(place):
                continue
            rest = text[len(place):]
            for suffix in PLACE_SUFFIXES:
                if rest.startswith(suffix):
                    rest = rest[len(suffix):]
                    break
            if len(rest) >= 2 and rest not in GENERIC_REMAINDERS:
                text = rest
                changed = True
            break
    return text


@lru_cache(maxsize=4096)
def normalize_name(name: str) -> str:
    """The comparable core of a company name: no legal form, place, punctuation, case."""
    text = _fold(name)
    text = _drop_place_brackets(text)
    text = _drop_latin_suffixes(text)
    text = _drop_punctuation(text)
    if not text:
        return ""
    text = _drop_chinese_suffixes(text)
    text = _drop_place_prefixes(text)
    text = _drop_chinese_suffixes(text)  # "上海集团" style leftovers
    return text


@lru_cache(maxsize=4096)
def pinyin_full(text: str) -> str:
    """'商策科技' -> 'shangcekeji'; Latin letters and digits are kept as they are."""
    folded = _drop_punctuation(_fold(text))
    return "".join(lazy_pinyin(folded, errors="default")).lower()


@lru_cache(maxsize=4096)
def pinyin_initials(text: str) -> str:
    """'商策科技' -> 'sckj'; a Latin word keeps all its letters ('ABC科技' -> 'abckj')."""
    folded = _drop_punctuation(_fold(text))
    return "".join(lazy_pinyin(folded, style=Style.FIRST_LETTER, errors="default")).lower()


def search_keys(name: str) -> dict[str, str]:
    """The name forms a customer document keeps for duplicate checks and search."""
    normalized = normalize_name(name)
    return {
        "name_normalized": normalized,
        "name_pinyin": pinyin_full(normalized or name),
        "name_initials": pinyin_initials(normalized or name),
        "name_initials_full": pinyin_initials(name),
    }


def is_latin_query(text: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9]+", _drop_punctuation(_fold(text))))


@dataclass(frozen=True)
class NameMatch:
    id: str
    name: str
    reason: str       # same_name | contains | pinyin
    score: float

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "reason": self.reason, "score": self.score}


REASON_SCORES = {"same_name": 1.0, "contains": 0.8, "pinyin": 0.6}


def match_reason(query: str, candidate: str) -> str | None:
    """Why `candidate` is likely the same company as `query`, or None."""
    q_norm, c_norm = normalize_name(query), normalize_name(candidate)
    if not q_norm or not c_norm:
        return None
    if q_norm == c_norm:
        return "same_name"
    shorter = min(len(q_norm), len(c_norm))
    if shorter >= 2 and (q_norm in c_norm or c_norm in q_norm):
        return "contains"
    c_pinyin = pinyin_full(c_norm)
    if is_latin_query(query):
        # The user typed pinyin ("shangce", "sckj"): compare with the spelled forms.
        typed = _drop_punctuation(_fold(query))
        if len(typed) >= 2 and (c_pinyin.startswith(typed) or
                                pinyin_initials(c_norm).startswith(typed) or
                                pinyin_initials(candidate).startswith(typed)):
            return "pinyin"
        return None
    q_pinyin = pinyin_full(q_norm)
    if q_pinyin == c_pinyin:
        return "pinyin"  # homophones: 商策 / 尚策
    if shorter >= 2 and min(len(q_pinyin), len(c_pinyin)) >= 4 and (
            q_pinyin in c_pinyin or c_pinyin in q_pinyin):
        return "pinyin"
    return None


def likely_duplicates(query: str, candidates, *, limit: int = 20) -> list[NameMatch]:
    """Rank (id, name) candidates that probably name the same company as `query`."""
    matches = []
    for candidate_id, candidate_name in candidates:
        reason = match_reason(query, candidate_name)
        if reason:
            matches.append(NameMatch(candidate_id, candidate_name, reason,
                                     REASON_SCORES[reason]))
    matches.sort(key=lambda m: (-m.score, len(m.name), m.name))
    return matches[:limit]


# --- search terms -----------------------------------------------------------------------
# `q` finds a customer by any part of its name, contact names and phones, by its number,
# and by pinyin. Every suffix of those texts is kept in one indexed array, so a substring
# search is an anchored prefix match (`^term`) that an index serves.

TERM_LIMIT = 40          # a term (and a query) is cut to this many characters
SUFFIX_STARTS = 40       # suffixes start within the first 40 characters


def compact(text: str | None) -> str:
    """Folded (full-width, case) with blanks and punctuation dropped: the search form."""
    return _drop_punctuation(_fold(text or ""))


def _suffixes(text: str, into: set[str]) -> None:
    for start in range(min(len(text), SUFFIX_STARTS)):
        into.add(text[start:start + TERM_LIMIT])


def _syllable_suffixes(syllables: list[str], into: set[str]) -> None:
    for start in range(min(len(syllables), SUFFIX_STARTS)):
        into.add("".join(syllables[start:])[:TERM_LIMIT])


@lru_cache(maxsize=256)
def _public_terms(name: str, number: str | None) -> frozenset[str]:
    """(Remembered a short while: a customer's document asks for them twice, for its
    search terms and its public ones.)"""
    terms: set[str] = set()
    folded = compact(name)
    keys = search_keys(name)
    _suffixes(folded, terms)
    _syllable_suffixes([s.lower() for s in lazy_pinyin(folded)], terms)
    _suffixes(keys["name_initials_full"], terms)
    terms.update((keys["name_normalized"][:TERM_LIMIT], keys["name_pinyin"][:TERM_LIMIT],
                  keys["name_initials"][:TERM_LIMIT]))
    if number:
        terms.add(number.lower())
    terms.discard("")
    return frozenset(terms)


def public_search_terms(name: str, number: str | None = None) -> list[str]:
    """The terms of what the public view shows (name, its pinyin, the number): all the
    pool's `q` may match, so contacts and phones cannot be probed through it."""
    return sorted(_public_terms(name, number))


def search_terms(name: str, number: str | None = None, contact_names=(), phones=()) -> list[str]:
    """Terms whose prefixes `q` matches: every suffix of the name (商策 in 上海商策科技),
    of its pinyin from each syllable (shangce, keji) and of its initials (sckj in
    shsckjyxgs); contact names and their initials; phone digits (last 4 and more);
    the number."""
    terms = set(_public_terms(name, number))
    for contact in contact_names:
        _suffixes(compact(contact), terms)
        _suffixes(pinyin_initials(contact or ""), terms)
    for phone in phones:
        digits = re.sub(r"\D", "", phone or "")
        for start in range(max(0, len(digits) - 2)):  # down to the last three digits
            terms.add(digits[start:])
        if re.fullmatch(r"1[3-9]\d{9}", digits):
            terms.add("86" + digits)  # found when typed with the country code too
    terms.discard("")
    return sorted(terms)


def query_term(q: str | None) -> str:
    """The form of a user's `q` that is matched as a prefix of a search term."""
    text = compact(q)
    if text.startswith("+"):
        text = text[1:]
    return text[:TERM_LIMIT]
