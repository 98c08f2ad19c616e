"""Durable Object ids match Miniflare 2.14.4 byte for byte."""

from __future__ import annotations

import hashlib

import pytest

from mfbook.ids import (
    DurableObjectId,
    check_jurisdiction,
    ensure_id_for,
    id_from_name,
    id_from_string,
    namespace_hash,
    new_unique_id,
)

VECTOR = "a856dbbd5109f5217920084de35ee0a24072ca790341ed4e94ee059335e587e5"
NOT_HEX = "Invalid Durable Object ID. Durable Object IDs must be 64 hex digits."
WRONG_CLASS = "Invalid Durable Object ID. The ID does not match this Durable Object class."


def test_id_from_name_matches_miniflare_vector() -> None:
    object_id = id_from_name("TEST", "test")
    assert object_id == DurableObjectId("TEST", VECTOR, "test")
    assert str(object_id) == VECTOR
    assert object_id.name == "test"


def test_id_from_name_layout() -> None:
    raw = bytes.fromhex(id_from_name("OBJECT", "name").hex)
    digest = hashlib.sha256(b"OBJECTname").digest()
    assert raw[0] == digest[0] | 0x80
    assert raw[1:24] == digest[1:24]
    assert raw[24:] == hashlib.sha256(b"OBJECT").digest()[:8] == namespace_hash("OBJECT")


def test_id_from_name_is_deterministic_and_namespace_specific() -> None:
    assert id_from_name("A", "x") == id_from_name("A", "x")
    assert id_from_name("A", "x") != id_from_name("A", "y")
    assert id_from_name("A", "x").hex != id_from_name("B", "x").hex


def test_id_from_name_hashes_strings_like_text_encoder() -> None:
    lone = id_from_name("A", "x\ud800")
    assert lone.hex == id_from_name("A", "x\ufffd").hex
    pair = id_from_name("A", "\ud83d\ude00")  # surrogate pair as two code points
    assert pair.hex == id_from_name("A", "\U0001f600").hex


def test_new_unique_id_layout_with_injected_clock_and_random() -> None:
    object_id = new_unique_id("OBJECT", clock=lambda: 0x0102030405060708, random_bytes=lambda n: b"\xaa" * n)
    raw = bytes.fromhex(object_id.hex)
    assert raw[0] == 0
    assert raw[1:9] == bytes(range(1, 9))
    assert raw[9:24] == b"\xaa" * 15
    assert raw[24:] == namespace_hash("OBJECT")
    assert object_id.name is None


def test_new_unique_id_is_unique_and_valid_for_its_namespace() -> None:
    first, second = new_unique_id("OBJECT"), new_unique_id("OBJECT")
    assert first != second
    assert bytes.fromhex(first.hex)[0] >> 7 == 0
    assert id_from_string("OBJECT", first.hex) == first
    ensure_id_for("OBJECT", second)


@pytest.mark.parametrize("jurisdiction", ["eu", "fedramp"])
def test_new_unique_id_accepts_supported_jurisdictions(jurisdiction: str) -> None:
    object_id = new_unique_id("OBJECT", jurisdiction=jurisdiction, clock=lambda: 1, random_bytes=bytes)
    assert object_id.jurisdiction == jurisdiction
    assert object_id == new_unique_id("OBJECT", clock=lambda: 1, random_bytes=bytes)


def test_unsupported_jurisdiction_raises_runtime_message() -> None:
    with pytest.raises(TypeError) as caught:
        new_unique_id("OBJECT", jurisdiction="miniflare")
    assert str(caught.value) == 'newUniqueId called with an unsupported jurisdiction: "miniflare"'
    with pytest.raises(TypeError) as caught:
        check_jurisdiction("x", method="jurisdiction")
    assert str(caught.value) == 'jurisdiction called with an unsupported jurisdiction: "x"'


def test_id_from_string_round_trips_and_lowercases() -> None:
    object_id = id_from_string("TEST", VECTOR)
    assert object_id == id_from_name("TEST", "test")
    assert object_id.name is None
    upper_prefix = VECTOR[:48].upper() + VECTOR[48:]
    assert id_from_string("TEST", upper_prefix).hex == VECTOR


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "",
        "not a hex id, but this is carefully crafted to be 64 characters!",
        VECTOR + "0",
        VECTOR[:-1],
        " " + VECTOR[1:],
    ],
)
def test_id_from_string_requires_64_hex_digits(bad: str) -> None:
    with pytest.raises(TypeError) as caught:
        id_from_string("TEST", bad)
    assert str(caught.value) == NOT_HEX


def test_id_from_string_rejects_other_namespace() -> None:
    with pytest.raises(TypeError) as caught:
        id_from_string("OBJECT", VECTOR)
    assert str(caught.value) == WRONG_CLASS


def test_id_from_string_accepts_upper_case_hex_as_documented() -> None:
    assert id_from_string("TEST", VECTOR.upper()).hex == VECTOR


def test_ensure_id_for_rejects_ids_of_other_namespaces() -> None:
    with pytest.raises(TypeError, match=r"^ID is not for this Durable Object class\.$"):
        ensure_id_for("OBJECT", id_from_name("TEST", "test"))


def test_equals_compares_hex_only() -> None:
    named = id_from_name("TEST", "test")
    parsed = id_from_string("TEST", VECTOR)
    assert named.equals(parsed) and parsed.equals(named)
    assert not named.equals(VECTOR)
    assert hash(named) == hash(parsed)


def test_ids_are_frozen() -> None:
    with pytest.raises(AttributeError):
        id_from_name("TEST", "test").hex = "0" * 64  # type: ignore[misc]
