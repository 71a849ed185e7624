"""Field encryption at rest: Fernet tokens (AES-128-CBC + HMAC-SHA256) from ``cryptography``.

A :class:`FieldCipher` holds one or more keys: the first encrypts, every one decrypts (a
``MultiFernet``), so keys are rotated by putting a new key first, re-encrypting stored values
with :meth:`FieldCipher.rotate` (in batches), then dropping the old key. Ciphertext carries the
prefix ``lmt1:`` so a column can hold plaintext and ciphertext side by side while encryption is
being switched on, and :meth:`FieldCipher.is_encrypted` tells them apart.

Encrypted text cannot be searched: full-text search has to be built from redacted (not
encrypted) text, or switched off, for the fields that are encrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ..errors import DecryptionError, EncryptionError, EncryptionKeyError

__all__ = ["PREFIX", "FieldCipher"]

PREFIX = "lmt1:"
"""What every ciphertext produced by :class:`FieldCipher` starts with."""

# A Fernet token is url-safe base64 of version byte 0x80, 8-byte timestamp, 16-byte IV,
# ciphertext (a multiple of 16 bytes) and a 32-byte HMAC: at least 73 bytes, "gAAAAA..." in text.
_MIN_TOKEN_BYTES = 1 + 8 + 16 + 16 + 32


def _as_bytes(key: str | bytes) -> bytes:
    if isinstance(key, str):
        try:
            return key.strip().encode("ascii")
        except UnicodeEncodeError as exc:
            raise EncryptionKeyError("an encryption key must be url-safe base64 text") from exc
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).strip()
    raise EncryptionKeyError(f"an encryption key must be str or bytes, not {type(key).__name__}")


class FieldCipher:
    """Encrypts and decrypts text fields.

    Args:
        keys: Fernet keys (32 url-safe base64-encoded bytes each, as made by
            :meth:`generate_key`), newest first. The first encrypts; all decrypt.
        digest_key: Secret of :meth:`digest` (the keyed digests that stand in for encrypted
            fact values, so equal values still compare equal). Keep it when rotating keys;
            by default it is derived from the *last* (oldest) key, and ``rotate-keys``
            recomputes the digests when that key is dropped.

    Raises:
        EncryptionKeyError: No key, a malformed key, or the same key twice.
    """

    def __init__(
        self, keys: Sequence[str | bytes], *, digest_key: str | bytes | None = None
    ) -> None:
        if isinstance(keys, (str, bytes)):
            keys = [keys]
        raw = [_as_bytes(k) for k in keys]
        if not raw:
            raise EncryptionKeyError("at least one encryption key is needed")
        if len(set(raw)) != len(raw):
            raise EncryptionKeyError("the same encryption key is given twice")
        fernets: list[Fernet] = []
        for i, key in enumerate(raw):
            try:
                fernets.append(Fernet(key))
            except (ValueError, binascii.Error) as exc:
                raise EncryptionKeyError(
                    f"encryption key #{i} is malformed: expected 32 url-safe base64-encoded bytes"
                ) from exc
        secret = _as_bytes(digest_key) if digest_key is not None else raw[-1]
        self._digest_key = hmac.new(secret, b"langmem-tiered digest v1", hashlib.sha256).digest()
        self._primary = fernets[0]
        self._multi = MultiFernet(fernets)
        self._count = len(fernets)

    @property
    def key_count(self) -> int:
        """How many keys can decrypt."""
        return self._count

    def digest(self, text: str) -> str:
        """A keyed digest (HMAC-SHA256, hex) of ``text``: equal texts, equal digests; without
        the key it tells nothing about the text (unlike a plain hash of a phone number)."""
        return hmac.new(self._digest_key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def generate_key() -> str:
        """A new random key (text, to be kept in configuration or a secret store)."""
        return Fernet.generate_key().decode("ascii")

    @staticmethod
    def is_encrypted(value: str) -> bool:
        """Whether ``value`` looks like ciphertext made by a :class:`FieldCipher` (the prefix and
        a well-formed Fernet token; says nothing about which key made it)."""
        if not isinstance(value, str) or not value.startswith(PREFIX):
            return False
        token = value[len(PREFIX) :]
        try:
            data = base64.urlsafe_b64decode(token.encode("ascii"))
        except (ValueError, binascii.Error):
            return False
        return len(data) >= _MIN_TOKEN_BYTES and data[0] == 0x80 and (len(data) - 57) % 16 == 0

    def encrypt(self, plaintext: str) -> str:
        """``plaintext`` encrypted with the primary key, as ``lmt1:<token>``.

        Raises:
            EncryptionError: ``plaintext`` is not text, or is already encrypted.
        """
        if not isinstance(plaintext, str):
            raise EncryptionError(f"can only encrypt text, not {type(plaintext).__name__}")
        if self.is_encrypted(plaintext):
            raise EncryptionError("the value is already encrypted")
        try:
            data = plaintext.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates
            raise EncryptionError("the value is not valid Unicode text") from exc
        return PREFIX + self._primary.encrypt(data).decode("ascii")

    def decrypt(self, value: str, *, allow_plaintext: bool = False) -> str:
        """The plaintext of ``value``.

        Args:
            value: Ciphertext made by :meth:`encrypt` with any of the keys.
            allow_plaintext: Return a value without the prefix unchanged (a field written before
                encryption was switched on) instead of raising.

        Raises:
            DecryptionError: Not ciphertext, no key opens it, or it was tampered with.
        """
        if not isinstance(value, str):
            raise DecryptionError(f"can only decrypt text, not {type(value).__name__}")
        if not value.startswith(PREFIX):
            if allow_plaintext:
                return value
            raise DecryptionError("the value is not encrypted (no 'lmt1:' prefix)")
        token = self._token(value)
        try:
            data = self._multi.decrypt(token)
        except InvalidToken as exc:
            raise DecryptionError(
                "no configured key decrypts the value (wrong key, or tampered token)"
            ) from exc
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecryptionError("the decrypted value is not UTF-8 text") from exc

    def rotate(self, value: str, *, allow_plaintext: bool = False) -> str:
        """``value`` re-encrypted with the primary key (its plaintext is unchanged).

        Args:
            value: Ciphertext made with any of the keys.
            allow_plaintext: Encrypt a value without the prefix instead of raising.

        Raises:
            DecryptionError: Not ciphertext, or no key opens it.
        """
        if not isinstance(value, str):
            raise DecryptionError(f"can only rotate text, not {type(value).__name__}")
        if not value.startswith(PREFIX):
            if allow_plaintext:
                return self.encrypt(value)
            raise DecryptionError("the value is not encrypted (no 'lmt1:' prefix)")
        try:
            rotated = self._multi.rotate(self._token(value))
        except InvalidToken as exc:
            raise DecryptionError(
                "no configured key decrypts the value (wrong key, or tampered token)"
            ) from exc
        return PREFIX + rotated.decode("ascii")

    def rotate_many(self, values: Iterable[str], *, allow_plaintext: bool = False) -> list[str]:
        """:meth:`rotate` of each value, in order (for a batch of a ``rotate-keys`` run)."""
        return [self.rotate(v, allow_plaintext=allow_plaintext) for v in values]

    def needs_rotation(self, value: str) -> bool:
        """Whether ``value`` is plaintext or ciphertext the primary key did not make.

        Raises:
            DecryptionError: No configured key opens it.
        """
        if not isinstance(value, str) or not value.startswith(PREFIX):
            return True
        token = self._token(value)
        try:
            self._primary.decrypt(token)
        except InvalidToken:
            self.decrypt(value)  # raises if no key at all opens it
            return True
        return False

    @staticmethod
    def _token(value: str) -> bytes:
        try:
            return value[len(PREFIX) :].encode("ascii")
        except UnicodeEncodeError as exc:
            raise DecryptionError("the value is not a token (non-ASCII characters)") from exc

    def __repr__(self) -> str:
        return f"FieldCipher(<{self._count} key(s)>)"
