"""A real restic repository that is quick to open, for tests that run restic many times.

restic unlocks a repository with a key derived from the password by scrypt, at the parameters
`restic init` calibrated to about half a second of this machine's CPU, and every restic command
pays that again: a test that runs restic 60 times spent 35 of its 50 seconds deriving keys.
restic's own tests lower those parameters (TestUseLowSecurityKDFParameters); this does the same
from outside. `restic init` runs once per password per test session, then the repository's key
file is replaced by one holding the same master key under scrypt N=16, r=1, p=1 (the format is
restic's design document's "Keys, Encryption and MAC": AES-256-CTR, Poly1305-AES). Each test
gets its own copy of that repository: real restic, real encryption; only the password check is
cheap. Tests of `restic init` itself let the store create its repository instead.
"""

from __future__ import annotations

import atexit
import base64
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

QUICK_SCRYPT = {"N": 16, "r": 1, "p": 1}


def quick_repository(path: Path, password: str) -> Path:
    """A restic repository at `path` (which must not exist) opened by `password`."""
    shutil.copytree(_template(password), path)
    return path


@functools.cache
def _template(password: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="jarvisctl-restic-"))
    atexit.register(shutil.rmtree, directory, True)
    repository = directory / "repo"
    subprocess.run(
        ["restic", "-r", str(repository), "--no-cache", "init", "-q"],
        env={**os.environ, "RESTIC_PASSWORD": password},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        timeout=120,
    )
    (calibrated,) = (repository / "keys").iterdir()
    quick = _rekeyed(json.loads(calibrated.read_bytes()), password.encode())
    calibrated.unlink()
    # a stored file is named by the SHA-256 of its bytes, keys too
    (repository / "keys" / hashlib.sha256(quick).hexdigest()).write_bytes(quick)
    return repository


def _rekeyed(key: dict[str, object], password: bytes) -> bytes:
    """The key file `key` with its master key sealed again under the quick parameters."""
    salt = base64.b64decode(str(key["salt"]))
    derived = _scrypt(password, salt, int(str(key["N"])), int(str(key["r"])), int(str(key["p"])))
    master = _open(derived, base64.b64decode(str(key["data"])))
    salt = os.urandom(64)
    derived = _scrypt(password, salt, QUICK_SCRYPT["N"], QUICK_SCRYPT["r"], QUICK_SCRYPT["p"])
    sealed = _seal(derived, master)
    quick = {**key, **QUICK_SCRYPT, "salt": base64.b64encode(salt).decode()}
    quick["data"] = base64.b64encode(sealed).decode()
    return json.dumps(quick).encode()


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    """64 bytes: the AES-256 key, then the Poly1305-AES key as K (16) and R (16)."""
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=1 << 30, dklen=64)


def _mac(derived: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    mac_k, mac_r = derived[32:48], derived[48:64]
    s = Cipher(algorithms.AES(mac_k), modes.ECB()).encryptor().update(nonce)
    return Poly1305.generate_tag(mac_r + s, ciphertext)


def _open(derived: bytes, sealed: bytes) -> bytes:
    nonce, ciphertext, tag = sealed[:16], sealed[16:-16], sealed[-16:]
    if _mac(derived, nonce, ciphertext) != tag:
        raise ValueError("the restic key file does not open with this password")
    return Cipher(algorithms.AES(derived[:32]), modes.CTR(nonce)).decryptor().update(ciphertext)


def _seal(derived: bytes, plain: bytes) -> bytes:
    nonce = os.urandom(16)
    ciphertext = Cipher(algorithms.AES(derived[:32]), modes.CTR(nonce)).encryptor().update(plain)
    return nonce + ciphertext + _mac(derived, nonce, ciphertext)
