"""CRC-64/NVME and CRC-32C for the local cloud's moto_server, fast where a C compiler is at hand.

moto computes these two only through optional packages (awscrt for CRC64NVME, crc32c for CRC32C) and, without them,
silently returns a CRC32 under the other algorithm's name. S3 reports both, and the archiver verifies every Glacier-class
copy by the full-object CRC64NVME S3 reports, so the local cloud needs the real ones. Neither package can be installed
here, so this module provides them:

- a tiny C function (slicing-by-8 tables), compiled once with the machine's `cc` into a cache directory and called
  through ctypes (ctypes releases the GIL, so moto's request threads are not held up): several GB/s;
- else a table-driven pure-Python loop (correct, but about 3 MB/s): said loudly at start-up, as it slows big objects.

Both follow zlib.crc32's convention: `crc(data, previous)` continues a running CRC, starting from 0.

CRC-64/NVME: reflected polynomial 0x9a6c9329ac4bc9b5, init and xorout all ones; check("123456789") = 0xae8b14860a799888.
CRC-32C (Castagnoli): reflected polynomial 0x82f63b78, init and xorout all ones; check("123456789") = 0xe3069283.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from typing import Callable

CHECK_INPUT = b"123456789"
CRC64NVME_CHECK = 0xAE8B14860A799888
CRC32C_CHECK = 0xE3069283

_C_SOURCE = r"""
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static uint64_t t64[8][256];
static uint32_t t32c[8][256];

/* t[s][i]: the CRC register after byte i followed by s zero bytes (slicing-by-8). */
void crc_tables_init(void) {
    for (int i = 0; i < 256; i++) {
        uint64_t c = (uint64_t)i;
        uint32_t d = (uint32_t)i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x9a6c9329ac4bc9b5ULL : c >> 1;
            d = (d & 1) ? (d >> 1) ^ 0x82f63b78U : d >> 1;
        }
        t64[0][i] = c;
        t32c[0][i] = d;
    }
    for (int i = 0; i < 256; i++) {
        for (int s = 1; s < 8; s++) {
            t64[s][i] = (t64[s - 1][i] >> 8) ^ t64[0][t64[s - 1][i] & 0xff];
            t32c[s][i] = (t32c[s - 1][i] >> 8) ^ t32c[0][t32c[s - 1][i] & 0xff];
        }
    }
}

uint64_t crc64nvme_update(uint64_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc ^= v;
        crc = t64[7][crc & 0xff] ^ t64[6][(crc >> 8) & 0xff] ^ t64[5][(crc >> 16) & 0xff] ^ t64[4][(crc >> 24) & 0xff] ^
              t64[3][(crc >> 32) & 0xff] ^ t64[2][(crc >> 40) & 0xff] ^ t64[1][(crc >> 48) & 0xff] ^ t64[0][crc >> 56];
        p += 8;
        n -= 8;
    }
#endif
    while (n--) crc = t64[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t crc32c_update(uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= crc;
        crc = t32c[7][lo & 0xff] ^ t32c[6][(lo >> 8) & 0xff] ^ t32c[5][(lo >> 16) & 0xff] ^ t32c[4][lo >> 24] ^
              t32c[3][hi & 0xff] ^ t32c[2][(hi >> 8) & 0xff] ^ t32c[1][(hi >> 16) & 0xff] ^ t32c[0][hi >> 24];
        p += 8;
        n -= 8;
    }
#endif
    while (n--) crc = t32c[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
"""


def _reflected_table(poly: int) -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_T64 = _reflected_table(0x9A6C9329AC4BC9B5)
_T32C = _reflected_table(0x82F63B78)
_MASK64 = 0xFFFFFFFFFFFFFFFF
_MASK32 = 0xFFFFFFFF


def crc64nvme_python(data: bytes, previous: int = 0) -> int:
    crc = previous ^ _MASK64
    table = _T64
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK64


def crc32c_python(data: bytes, previous: int = 0) -> int:
    crc = previous ^ _MASK32
    table = _T32C
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK32


def _cache_dir() -> str:
    """Where the compiled library is kept between launches (one file per source and machine)."""
    configured = os.environ.get("LOCAL_CLOUD_CACHE_DIR")
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "omics-run-archiver")


def _compiler() -> str | None:
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def _build_library() -> str:
    """The compiled library's path, compiling it first if no launch has yet (atomically: tests start several at once)."""
    tag = hashlib.sha256(f"{_C_SOURCE}|{sys.platform}|{platform.machine()}".encode()).hexdigest()[:16]
    directory = _cache_dir()
    library = os.path.join(directory, f"crc-{tag}.so")
    if os.path.exists(library):
        return library
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        source = os.path.join(scratch, "crc.c")
        built = os.path.join(scratch, "crc.so")
        with open(source, "w", encoding="ascii") as file:
            file.write(_C_SOURCE)
        result = subprocess.run(
            [compiler, "-O3", "-shared", "-fPIC", "-o", built, source], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise RuntimeError(f"{compiler} failed: {(result.stderr or result.stdout).strip()[:400]}")
        os.replace(built, library)
    return library


def _load_c() -> tuple[Callable[[bytes, int], int], Callable[[bytes, int], int], str]:
    path = _build_library()
    lib = ctypes.CDLL(path)
    lib.crc_tables_init.argtypes = []
    lib.crc_tables_init.restype = None
    lib.crc64nvme_update.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_size_t]
    lib.crc64nvme_update.restype = ctypes.c_uint64
    lib.crc32c_update.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    lib.crc32c_update.restype = ctypes.c_uint32
    lib.crc_tables_init()

    def crc64nvme_c(data: bytes, previous: int = 0) -> int:
        if not isinstance(data, bytes):
            data = bytes(data)
        return int(lib.crc64nvme_update(previous, data, len(data)))

    def crc32c_c(data: bytes, previous: int = 0) -> int:
        if not isinstance(data, bytes):
            data = bytes(data)
        return int(lib.crc32c_update(previous, data, len(data)))

    # The C code must agree with the reference check values and with the Python loop, chained at odd lengths too.
    sample = bytes((i * 131 + 7) % 256 for i in range(1037))
    checks = [
        crc64nvme_c(CHECK_INPUT) == CRC64NVME_CHECK,
        crc32c_c(CHECK_INPUT) == CRC32C_CHECK,
        crc64nvme_c(sample[500:], crc64nvme_c(sample[:500])) == crc64nvme_python(sample),
        crc32c_c(sample[3:], crc32c_c(sample[:3])) == crc32c_python(sample),
    ]
    if not all(checks):
        raise RuntimeError(f"the compiled CRC code at {path} gives wrong results")
    return crc64nvme_c, crc32c_c, f"compiled C ({path})"


def _select() -> tuple[Callable[[bytes, int], int], Callable[[bytes, int], int], str]:
    try:
        return _load_c()
    except Exception as error:  # noqa: BLE001 - any failure to build or load means the Python fallback
        assert crc64nvme_python(CHECK_INPUT) == CRC64NVME_CHECK and crc32c_python(CHECK_INPUT) == CRC32C_CHECK
        return crc64nvme_python, crc32c_python, f"pure Python (slow, about 3 MB/s; no compiled code: {error})"


crc64nvme, crc32c, IMPLEMENTATION = _select()
