"""Where a corpus's text comes from: the book's *The Time Machine* (downloaded once, SHA-1 verified,
cached by pooch), an offline Shakespeare corpus shipped in bptt/texts/, and a student's upload
(validated bytes). `load_corpus` turns any of them into a `Corpus` (bptt/data.py, d2l §8.2).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import io
import lzma
import os
import re
import urllib.request
from pathlib import Path

from .data import Corpus, CorpusError, make_corpus
from .i18n import N_, _, ngettext
from .tasks.delayed_recall import DELAYED_RECALL

DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
TIME_MACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"
MAX_UPLOAD_BYTES = 2_000_000
MAX_DOWNLOAD_BYTES = 2_000_000  # the real file is 178,979 bytes; anything far bigger is not it

# Five tragedies, Hamlet first (so the book's "first 10,000 tokens" are Hamlet's): about 660k
# letters-mode tokens, well above the dashboard's max_tokens bound of 200,000.
BUNDLED_FILE = Path(__file__).with_name("texts") / "shakespeare-tragedies.txt.xz"
BUNDLED_SHA256 = (
    "d5c9b2c66c1cfc9371c95534731e0ceafa237e5142fad6901debe39e70041b9f"  # of the decompressed text
)

# Every byte but the control bytes that plain text does not contain (whitespace controls are fine):
# bytes.translate(None, _NOT_CONTROL) leaves just the suspicious ones, at C speed.
_NOT_CONTROL = bytes(b for b in range(256) if not ((b < 0x20 and b not in b"\t\n\r\x0b\x0c") or b == 0x7F))
_MAX_CONTROL_FRACTION = 0.05


class CorpusUnavailable(RuntimeError):
    """The Time Machine (or the bundled corpus) could not be obtained; the message says why."""


# Corpus.name as load_corpus writes it (kept as it is in exports and the CLI's JSON), as a page shows it
CORPUS_TITLES = {
    "The Time Machine": N_("The Time Machine"),
    "Shakespeare (bundled)": N_("Shakespeare (bundled)"),
}
UPLOAD_PREFIX = "upload: "


def corpus_title(name: str) -> str:
    """A corpus's name in the current language ('upload: notes.txt' -> '上传：notes.txt')."""
    if name.startswith(UPLOAD_PREFIX):
        return _("upload: {file}").format(file=name.removeprefix(UPLOAD_PREFIX))
    recall = DELAYED_RECALL.fullmatch(name)
    if recall:
        title = _("delayed recall (d={d}, {markers} markers, {noise} noise letters)")
        return title.format(**recall.groupdict())
    return _(CORPUS_TITLES[name]) if name in CORPUS_TITLES else name


# --------------------------------------------------------------------------------------------------
# The Time Machine: fetched once, verified, cached (the book's d2l.download, made safe)


def _fetch(url: str, timeout: float, max_bytes: int) -> bytes:
    """Download `url`, refusing more than `max_bytes` and short bodies; raise CorpusUnavailable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            buf = io.BytesIO()
            while chunk := response.read(64 * 1024):
                buf.write(chunk)
                if buf.tell() > max_bytes:
                    raise CorpusUnavailable(
                        _("the download from {url} is larger than {limit} bytes").format(
                            url=url, limit=f"{max_bytes:,}"
                        )
                    )
    except CorpusUnavailable:
        raise
    except (OSError, http.client.HTTPException, ValueError) as e:  # URLError, HTTPError, timeouts
        raise CorpusUnavailable(_("downloading {url} failed: {reason}").format(url=url, reason=e)) from e
    data = buf.getvalue()
    # http.client does not raise when the server closes early, so check the promised length here.
    if expected is not None and expected.isdigit() and len(data) != int(expected):
        raise CorpusUnavailable(
            _("the download from {url} was incomplete ({got} of {expected} bytes)").format(
                url=url, got=f"{len(data):,}", expected=f"{int(expected):,}"
            )
        )
    return data


def time_machine_text(
    cache_dir: str | Path | None = None,
    url: str | None = None,
    timeout: float = 5.0,
    sha1: str = TIME_MACHINE_SHA1,
) -> str:
    """The Time Machine's text, downloaded once and cached (d2l §8.2's `d2l.download`).

    pooch keeps the cache (in its per-user cache folder for "bptt-lab" unless `cache_dir` is given),
    checks the SHA-1 and moves a download into place only when it matches. The download itself is
    `_fetch`, bounded in time and size: pooch's own HTTP downloader has no size limit. `url` overrides
    DATA_URL + "timemachine.txt". A cached file whose SHA-1 is wrong is deleted before anything else.
    Raises CorpusUnavailable (the message says why) on any network error, HTTP error, timeout,
    incomplete or over-size body, hash mismatch or non-UTF-8 text: unverified text is never returned.
    """
    import pooch  # only needed when the book's corpus is asked for

    cache_dir = Path(pooch.os_cache("bptt-lab") if cache_dir is None else cache_dir)
    # BPTT_DATA_URL points the download at a mirror (or, in tests, at a local server).
    url = url or os.environ.get("BPTT_DATA_URL", DATA_URL) + "timemachine.txt"
    fname = f"timemachine-{sha1[:10]}.txt"
    cached = cache_dir / fname
    with contextlib.suppress(OSError):
        if cached.is_file() and pooch.file_hash(str(cached), alg="sha1") != sha1:
            cached.unlink()  # corrupt or stale: never trust it, even when the network is down
    fetched: list[bytes] = []

    def download(url: str, output_file: str, _pooch) -> None:
        fetched.append(_fetch(url, timeout, MAX_DOWNLOAD_BYTES))
        Path(output_file).write_bytes(fetched[-1])

    def wrong_hash(data: bytes) -> CorpusUnavailable:
        got = hashlib.sha1(data).hexdigest()
        return CorpusUnavailable(
            _("the file from {url} failed its SHA-1 check (got {got}, expected {expected})").format(
                url=url, got=got, expected=sha1
            )
        )

    try:
        data = Path(pooch.retrieve(url, f"sha1:{sha1}", fname=fname, path=cache_dir, downloader=download))
        data = data.read_bytes()
    except ValueError as e:  # pooch: the download's hash is not the known one (nothing was cached)
        raise wrong_hash(fetched[-1]) from e
    except PermissionError:  # a read-only cache only costs a download each time
        data = _fetch(url, timeout, MAX_DOWNLOAD_BYTES)
        if hashlib.sha1(data).hexdigest() != sha1:
            raise wrong_hash(data) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusUnavailable(_("the file from {url} is not UTF-8 text").format(url=url)) from e


# --------------------------------------------------------------------------------------------------
# The bundled corpus: five Shakespeare tragedies as plain text, shipped in bptt/texts/ (see its README)


@functools.lru_cache(maxsize=1)
def bundled_text() -> str:
    """Five Shakespeare tragedies (Hamlet, Macbeth, Romeo and Juliet, Othello, King Lear, in that order)
    as plain text, shipped with the app.

    Works offline; about 660,000 tokens in letters mode, with the same 28-entry vocabulary as the book.
    The file's SHA-256 is checked, so a damaged copy says so instead of training on garbage.
    """
    try:
        raw = lzma.decompress(BUNDLED_FILE.read_bytes())
    except (OSError, lzma.LZMAError) as e:
        raise CorpusUnavailable(_("the bundled corpus {path} cannot be read: {reason}").format(
            path=BUNDLED_FILE.name, reason=e)) from e  # fmt: skip
    if hashlib.sha256(raw).hexdigest() != BUNDLED_SHA256:
        raise CorpusUnavailable(_("the bundled corpus {path} is damaged").format(path=BUNDLED_FILE.name))
    return raw.decode("utf-8")


# --------------------------------------------------------------------------------------------------
# Uploads: untrusted bytes -> text, or a CorpusError a student can act on


def _size(n: int) -> str:
    """A byte count for people: '2.0 MB', '12.5 kB', '900 bytes'."""
    if n >= 1_000_000:
        return _("{size} MB").format(size=f"{n / 1e6:.1f}")
    if n >= 1_000:
        return _("{size} kB").format(size=f"{n / 1e3:.1f}")
    return ngettext("{n} byte", "{n} bytes", n).format(n=n)


def decode_upload(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """Validate an uploaded file and return its text verbatim (a UTF-8 BOM removed, nothing escaped).

    Raises CorpusError with kind 'empty' (no bytes, or only whitespace), 'too_large' (over
    `max_bytes`), 'binary' (NUL bytes or many control characters) or 'not_utf8'.
    """
    if not data:
        raise CorpusError("empty", _("The file is empty. Upload a text file with some writing in it."))
    if len(data) > max_bytes:
        size, limit = _size(len(data)), _size(max_bytes)
        if size == limit:  # the rounding hides the difference: exact bytes
            size, limit = f"{len(data):,} bytes", f"{max_bytes:,} bytes"
        raise CorpusError(
            "too_large",
            _("The file is {size}, more than the {limit} limit. Upload a shorter text.").format(
                size=size, limit=limit
            ),
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CorpusError("not_utf8", _("The file is UTF-16 text. Save it as UTF-8 and upload again."))
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    body = data[bom:]
    controls = len(body.translate(None, _NOT_CONTROL))
    if b"\x00" in body or controls > _MAX_CONTROL_FRACTION * max(len(body), 1):
        raise CorpusError(
            "binary",
            _(
                "The file looks like a binary file (an image, a program, a zip...), not plain text. "
                "Upload a .txt file saved as UTF-8."
            ),
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(
            "not_utf8",
            _(
                "The file is not UTF-8 text (byte 0x{byte} at position {position}). "
                "Save it as UTF-8 and upload again."
            ).format(byte=f"{body[e.start]:02x}", position=e.start + bom),
        ) from None
    if not text.strip():
        raise CorpusError(
            "empty", _("The file contains only whitespace. Upload a text file with some writing in it.")
        )
    return text


def _upload_name(filename: str) -> str:
    # Keep only the base name (browsers may send a path), and bound it for display.
    return re.split(r"[\\/]", filename)[-1][:100] or "upload"


def load_corpus(
    name: str,
    *,
    tokenizer: str = "letters",
    max_tokens: int = 10_000,
    max_vocab: int | None = None,
    upload: tuple[str, bytes] | None = None,
    cache_dir: str | Path | None = None,
    url: str | None = None,
    timeout: float = 5.0,
) -> Corpus:
    """Load 'time_machine' (the book's, §8.2), 'bundled' (offline Shakespeare) or 'upload'.

    If The Time Machine cannot be downloaded, the bundled corpus is used and `notice` says why.
    'upload' needs `upload=(filename, bytes)`; its CorpusError (or kind 'empty' when no file was
    given) propagates. Unknown names raise ValueError.
    """
    opts = {"tokenizer": tokenizer, "max_tokens": max_tokens, "max_vocab": max_vocab}
    if name == "time_machine":
        try:
            text = time_machine_text(cache_dir=cache_dir, url=url, timeout=timeout)
        except CorpusUnavailable as e:
            notice = _(
                "The Time Machine could not be downloaded ({reason}); using the bundled Shakespeare corpus "
                "instead."
            ).format(reason=e)
            return make_corpus(bundled_text(), "Shakespeare (bundled)", notice=notice, **opts)
        return make_corpus(text, "The Time Machine", **opts)
    if name == "bundled":
        return make_corpus(bundled_text(), "Shakespeare (bundled)", **opts)
    if name == "upload":
        if upload is None:
            raise CorpusError("empty", _("No file was uploaded. Choose a text file first."))
        filename, data = upload
        return make_corpus(decode_upload(data), UPLOAD_PREFIX + _upload_name(filename), **opts)
    raise ValueError(f"unknown corpus {name!r}; use 'time_machine', 'bundled' or 'upload'")
