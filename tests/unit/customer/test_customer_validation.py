import pytest

from crmkit.errors import Invalid

from services.customer import validation as v


def resident_id(first17: str = "11010519491231002") -> str:
    """A resident ID number with a correct ISO 7064 MOD 11-2 check character."""
    total = sum(int(d) * w for d, w in zip(first17, v.ID_WEIGHTS))
    return first17 + v.ID_CHECK_CHARS[total % 11]


def with_wrong_check(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("0" if last != "0" else "1")


# --- phones ---------------------------------------------------------------------------

@pytest.mark.parametrize("phone", [
    "13812345678", "19912345678", "+8613812345678", "02112345678", "075512345678",
    "4008001234", "+14155552671", "+442071838750", " 13812345678 ", "62345678",
    "+862112345678",
])
def test_accepts_well_formed_phones(phone):
    assert v.clean_phone(phone) == phone.strip()


@pytest.mark.parametrize("phone", [
    "12812345678",      # 12x is not a mainland mobile prefix
    "1381234567",       # 10 digits starting with 1
    "138123456789",     # 12 digits starting with 1
    "138-1234-5678",    # digits only
    "138 1234 5678",
    "+86 13812345678",
    "phone",
    "",
    "++8613812345678",
    "+8612812345678",   # +86 then a bad mobile
    "+1234",            # too short for any country
    "1234567890123456789",
])
def test_refuses_malformed_phones(phone):
    with pytest.raises(v.PhoneError):
        v.clean_phone(phone)


def test_full_width_digits_are_read_as_digits():
    assert v.clean_phone("１３８１２３４５６７８") == "13812345678"


def test_validate_phone_names_the_field():
    with pytest.raises(Invalid) as err:
        v.validate_phone("primary_contact.phone", "abc")
    assert list(err.value.errors) == ["primary_contact.phone"]


@pytest.mark.parametrize("phone, masked", [
    ("13812345678", "138****5678"),
    ("+8613812345678", "+86138****5678"),
    ("02112345678", "021****5678"),
    ("62345678", "623*5678"),
    ("12345", "*2345"),
    (None, None),
])
def test_masks_the_middle_of_phones(phone, masked):
    assert v.mask_phone(phone) == masked


# --- resident ID and bank cards ------------------------------------------------------

def test_resident_id_checksum():
    good = resident_id()
    assert v.resident_id_checksum_ok(good)
    assert not v.resident_id_checksum_ok(with_wrong_check(good))


def test_resident_id_with_x_check_character():
    # Find 17 digits whose check character is X and make sure X / x are both accepted.
    for n in range(100, 1000):
        first17 = f"44030419900101{n:03d}"
        number = resident_id(first17)
        if number.endswith("X"):
            break
    assert v.find_sensitive(f"身份证 {number}") == "resident_id"
    assert v.find_sensitive(f"身份证 {number[:-1]}x") == "resident_id"


def test_luhn():
    assert v.luhn_ok("4111111111111111")
    assert not v.luhn_ok("4111111111111112")


@pytest.mark.parametrize("text, kind", [
    (f"客户身份证号{resident_id()}请保密", "resident_id"),
    ("卡号 4111111111111111", "bank_card"),
    ("卡号 4111 1111 1111 1111", "bank_card"),
    ("卡号 4111-1111-1111-1111", "bank_card"),
    ("call 13812345678 tomorrow", None),
    ("订单 4111111111111112", None),                      # fails Luhn
    (with_wrong_check(resident_id()), None),                # 18 digits, bad checksum
    ("short", None),
    (None, None),
])
def test_find_sensitive(text, kind):
    assert v.find_sensitive(text) == kind


def test_full_width_card_numbers_are_found():
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "4111111111111111")
    assert v.find_sensitive("卡号" + full_width) == "bank_card"


def test_a_card_number_with_19_digits_is_found():
    digits = "622202123456789012"
    check = next(str(d) for d in range(10) if v.luhn_ok(digits + str(d)))
    assert v.find_sensitive("工行 " + digits + check) == "bank_card"


def test_refuse_sensitive_names_every_field_dotted():
    with pytest.raises(Invalid) as err:
        v.refuse_sensitive({"needs": "卡 4111111111111111", "primary_contact": {
            "name": resident_id()}, "tags": ["ok", "4111111111111111"], "address": "上海"})
    assert err.value.code == "sensitive_data"
    assert set(err.value.errors) == {"needs", "primary_contact.name", "tags"}


def test_refuse_sensitive_passes_clean_text():
    v.refuse_sensitive({"needs": "采购 50 台设备, 预算 120000 元", "tags": ["A"]})
