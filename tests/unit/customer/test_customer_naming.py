import pytest

from services.customer import naming


@pytest.mark.parametrize("raw", [
    "上海商策科技有限公司",
    "商策科技有限公司",
    "商策科技(上海)有限公司",
    "商策科技（上海）有限公司",
    "商策科技 有限公司",
    "上海市商策科技有限责任公司",
    "商策科技股份有限公司",
    "北京商策科技集团有限公司",
    "商策科技集团股份有限公司",
    "深圳市商策科技有限公司",
    "广东省深圳市商策科技有限公司",
    "「商策科技」",
])
def test_names_of_one_company_normalise_alike(raw):
    assert naming.normalize_name(raw) == "商策科技"


def test_full_width_and_case_fold():
    assert naming.normalize_name("ＡＢＣ Tech Co., Ltd.") == naming.normalize_name("abc tech")
    assert naming.normalize_name("ABC Tech Inc") == "abctech"


def test_latin_suffix_only_dropped_as_whole_word():
    assert naming.normalize_name("Zinc") == "zinc"


def test_a_place_is_kept_when_only_a_generic_word_would_remain():
    assert naming.normalize_name("中山大学") == "中山大学"
    assert naming.normalize_name("广州大学") != naming.normalize_name("中山大学")


def test_a_name_that_is_only_a_legal_form_keeps_something():
    assert naming.normalize_name("集团有限公司") != ""


def test_pinyin():
    assert naming.pinyin_full("商策科技") == "shangcekeji"
    assert naming.pinyin_initials("商策科技") == "sckj"
    assert naming.pinyin_initials("ABC科技") == "abckj"
    assert naming.pinyin_full("重庆") == "chongqing"  # phrase-aware reading


def test_search_keys_use_the_normalised_name():
    keys = naming.search_keys("上海商策科技有限公司")
    assert keys["name_normalized"] == "商策科技"
    assert keys["name_initials"] == "sckj"
    assert keys["name_pinyin"] == "shangcekeji"
    assert keys["name_initials_full"] == "shsckjyxgs"


CANDIDATES = [("1", "上海商策科技有限公司"), ("2", "尚策科技"), ("3", "华为技术有限公司"),
              ("4", "商策")]


def test_equal_normalised_name_ranks_first():
    matches = naming.likely_duplicates("商策科技(上海)有限公司", CANDIDATES)
    assert matches[0].id == "1" and matches[0].reason == "same_name"


def test_substring_match():
    reasons = {m.id: m.reason for m in naming.likely_duplicates("商策", CANDIDATES)}
    assert reasons["1"] == "contains"
    assert "3" not in reasons


def test_homophone_matches_by_pinyin():
    reasons = {m.id: m.reason for m in naming.likely_duplicates("商策科技", CANDIDATES)}
    assert reasons["2"] == "pinyin"


@pytest.mark.parametrize("typed", ["sckj", "shangce", "SCKJ"])
def test_typed_pinyin_finds_the_company(typed):
    ids = {m.id for m in naming.likely_duplicates(typed, CANDIDATES)}
    assert "1" in ids and "3" not in ids


def test_unrelated_names_do_not_match():
    assert naming.likely_duplicates("阿里巴巴", CANDIDATES) == []


def test_pinyin_through_the_word_cache_is_pypinyins_own():
    """naming converts through a converter that remembers each word: what pypinyin's
    `lazy_pinyin` gives, the second time (from the cache) as the first."""
    from pypinyin import Style, lazy_pinyin

    names = ["重庆银行长沙分行", "上海商策科技有限公司", "乐音乐器行", "ABC科技（上海）有限公司",
             "嗯呣绿律", "〇㐀一二三", "abc123"]
    for _ in range(2):
        for name in names:
            for style in (Style.NORMAL, Style.FIRST_LETTER):
                assert naming.lazy_pinyin(name, style=style) == lazy_pinyin(
                    name, style=style, errors="default")


def test_remembered_public_terms_do_not_take_in_private_ones():
    """A customer's public terms are computed once for its search terms and its public
    ones: adding contacts and phones to the first leaves the second alone."""
    public = naming.public_search_terms("商策科技有限公司", "C1")
    private = naming.search_terms("商策科技有限公司", "C1", ["王经理"], ["13812345678"])
    assert "wjl" in private and "13812345678" in private
    assert naming.public_search_terms("商策科技有限公司", "C1") == public
    assert "wjl" not in public and set(public) < set(private)
