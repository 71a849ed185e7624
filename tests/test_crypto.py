"""Field encryption: FieldCipher on Fernet / MultiFernet, key rotation, bad keys and tokens."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from langmem_tiered.compliance import CIPHER_PREFIX, FieldCipher
from langmem_tiered.errors import (
    ConfigurationError,
    DecryptionError,
    EncryptionError,
    EncryptionKeyError,
    LangmemError,
)

TEXTS = ["", "olá, meu CPF é 529.982.247-25", "emoji 🙂 e acentuação ção", "x" * 10_000, "a\nb\tc"]


def test_round_trip_and_prefix() -> None:
    cipher = FieldCipher([FieldCipher.generate_key()])
    for text in TEXTS:
        token = cipher.encrypt(text)
        assert token.startswith(CIPHER_PREFIX) and CIPHER_PREFIX == "lmt1:"
        assert text == "" or text not in token
        assert cipher.is_encrypted(token)
        assert not cipher.is_encrypted(text)
        assert cipher.decrypt(token) == text
    # two encryptions of one text differ (random IV), both decrypt
    a, b = cipher.encrypt("same"), cipher.encrypt("same")
    assert a != b and cipher.decrypt(a) == cipher.decrypt(b) == "same"


def test_is_encrypted_tells_plaintext_from_ciphertext() -> None:
    cipher = FieldCipher([FieldCipher.generate_key()])
    assert not FieldCipher.is_encrypted("lmt1:")
    assert not FieldCipher.is_encrypted("lmt1: hello, this is plain text that starts oddly")
    assert not FieldCipher.is_encrypted("lmt1:" + "A" * 100)  # base64, but not a Fernet token
    assert not FieldCipher.is_encrypted("gAAAAABl" + "x" * 90)  # no prefix
    assert FieldCipher.is_encrypted(cipher.encrypt("x"))
    with pytest.raises(EncryptionError):
        cipher.encrypt(cipher.encrypt("x"))  # no double encryption


def test_keys_as_str_or_bytes_and_generate_key() -> None:
    key = FieldCipher.generate_key()
    assert isinstance(key, str) and len(key) == 44
    Fernet(key.encode())  # a real Fernet key
    a, b = FieldCipher([key]), FieldCipher([key.encode()])
    assert b.decrypt(a.encrypt("t")) == "t"
    assert FieldCipher(key).decrypt(a.encrypt("t")) == "t"  # a single key is accepted too
    assert a.key_count == 1 and "key" in repr(a) and key not in repr(a)
    assert FieldCipher.generate_key() != key


def test_rotation_old_and_new_keys() -> None:
    old, new = FieldCipher.generate_key(), FieldCipher.generate_key()
    before = FieldCipher([old])
    stored = [before.encrypt(t) for t in TEXTS]

    # step 1: new key first, old key still there: old values decrypt, new values use the new key
    during = FieldCipher([new, old])
    assert during.key_count == 2
    assert [during.decrypt(s) for s in stored] == TEXTS
    assert all(during.needs_rotation(s) for s in stored)
    fresh = during.encrypt("fresh")
    assert not during.needs_rotation(fresh)
    with pytest.raises(DecryptionError):
        before.decrypt(fresh)  # the old key alone cannot read what the new key wrote

    # step 2: rotate in batches
    rotated = during.rotate_many(stored)
    assert all(r.startswith(CIPHER_PREFIX) for r in rotated)
    assert not any(during.needs_rotation(r) for r in rotated)
    assert during.rotate(rotated[1]) != rotated[1]  # a new token, same plaintext
    assert during.decrypt(during.rotate(rotated[1])) == TEXTS[1]

    # step 3: drop the old key: rotated values still decrypt, un-rotated ones do not
    after = FieldCipher([new])
    assert [after.decrypt(r) for r in rotated] == TEXTS
    with pytest.raises(DecryptionError):
        after.decrypt(stored[1])
    with pytest.raises(DecryptionError):
        after.rotate(stored[1])
    with pytest.raises(DecryptionError):
        after.needs_rotation(stored[1])


def test_plaintext_fields_written_before_encryption() -> None:
    cipher = FieldCipher([FieldCipher.generate_key()])
    assert cipher.needs_rotation("legacy value")
    with pytest.raises(DecryptionError):
        cipher.decrypt("legacy value")
    assert cipher.decrypt("legacy value", allow_plaintext=True) == "legacy value"
    with pytest.raises(DecryptionError):
        cipher.rotate("legacy value")
    encrypted = cipher.rotate("legacy value", allow_plaintext=True)
    assert cipher.is_encrypted(encrypted) and cipher.decrypt(encrypted) == "legacy value"


@pytest.mark.parametrize(
    "keys",
    [[], ["not a key"], [b"short"], ["A" * 44], ["é" * 44], [123]],
    ids=["none", "text", "short", "bad-length", "non-ascii", "int"],
)
def test_bad_keys(keys: list[object]) -> None:
    with pytest.raises(EncryptionKeyError) as info:
        FieldCipher(keys)  # type: ignore[arg-type]
    assert isinstance(info.value, ConfigurationError) and isinstance(info.value, LangmemError)


def test_same_key_twice_is_refused() -> None:
    key = FieldCipher.generate_key()
    with pytest.raises(EncryptionKeyError):
        FieldCipher([key, key])


def test_bad_tokens() -> None:
    cipher = FieldCipher([FieldCipher.generate_key()])
    other = FieldCipher([FieldCipher.generate_key()])
    token = cipher.encrypt("secret")
    body = token[len(CIPHER_PREFIX) :]
    tampered = CIPHER_PREFIX + body[:-6] + ("A" if body[-6] != "A" else "B") + body[-5:]
    bad = [
        other.encrypt("secret"),  # wrong key
        tampered,
        CIPHER_PREFIX + "garbage",
        CIPHER_PREFIX,
        CIPHER_PREFIX + "çãõ",
        CIPHER_PREFIX + Fernet(Fernet.generate_key()).encrypt(b"x").decode(),
    ]
    for value in bad:
        with pytest.raises(DecryptionError) as info:
            cipher.decrypt(value)
        assert isinstance(info.value, EncryptionError)
        with pytest.raises(DecryptionError):
            cipher.rotate(value)
    with pytest.raises(DecryptionError):
        cipher.decrypt(123)  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        cipher.encrypt(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        cipher.encrypt("lone surrogate \ud800")


def test_multifernet_reads_tokens_of_every_key() -> None:
    keys = [FieldCipher.generate_key() for _ in range(3)]
    singles = [FieldCipher([k]) for k in keys]
    multi = FieldCipher(keys)
    for i, single in enumerate(singles):
        assert multi.decrypt(single.encrypt(f"v{i}")) == f"v{i}"
    # the primary (first) key encrypts
    assert singles[0].decrypt(multi.encrypt("p")) == "p"
    with pytest.raises(DecryptionError):
        singles[1].decrypt(multi.encrypt("p"))
