"""Tests for bptt.data and bptt.corpora: tokens, vocabulary, the verified download, uploads, samplers.

Network use stays on 127.0.0.1 (a throwaway http.server) and every cache lives under tmp_path.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import lzma
import re
import socket
import threading
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bptt import corpora, data
from bptt.corpora import CorpusUnavailable
from bptt.data import CorpusError, Vocab

GOOD = (
    "The Time Machine, by H. G. Wells [1898]\n\nI\nThe Time Traveller (for so it will be convenient\n" * 50
).encode()
GOOD_SHA1 = hashlib.sha1(GOOD).hexdigest()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # A proxy from the environment would route 127.0.0.1 requests elsewhere.
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


# --------------------------------------------------------------------------------------------------
# A local HTTP server: files from a tmp dir, plus a few misbehaving routes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    www = tmp_path_factory.mktemp("www")
    (www / "good.txt").write_bytes(GOOD)
    (www / "corrupt.txt").write_bytes(GOOD[:-1] + b"X")
    (www / "big.txt").write_bytes(b"a" * (corpora.MAX_DOWNLOAD_BYTES + 1))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def do_GET(self):
            if self.path == "/partial.txt":  # promises more than it sends, then hangs up
                self.send_response(200)
                self.send_header("Content-Length", str(len(GOOD) + 1000))
                self.end_headers()
                self.wfile.write(GOOD[:100])
                self.close_connection = True
            elif self.path == "/slow.txt":
                time.sleep(1.5)
                super().do_GET()
            else:
                super().do_GET()

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # the client hanging up on big.txt is expected

    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dead_url():
    # A port that was just free: connecting is refused at once.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/timemachine.txt"


# --------------------------------------------------------------------------------------------------
# tokenize and Vocab (d2l §8.2)


def test_tokenize_letters_is_the_books_preprocessing():
    assert data.tokenize("Hi, you!\nOK") == ["h", "i", " ", "y", "o", "u", "o", "k"]
    text = "The Time Machine, by H. G. Wells [1898]\n\n\nI\n  The (so-called) end\r\nto him)\rX"
    expected = [
        *"the time machine by h g wells",  # "[1898]" -> " " -> stripped
        "i",
        *"the so called end",  # leading spaces stripped, "-" -> " "
        *"to him",
        "x",  # "\r" is a line break too (universal newlines)
    ]
    assert data.tokenize(text) == expected
    assert data.tokenize(text, "letters") == expected


def test_tokenize_chars_keeps_every_character():
    assert data.tokenize("  时间 机器\n\n\tA!  ", "chars") == ["时", "间", " ", "机", "器", " ", "A", "!"]
    with pytest.raises(ValueError):
        data.tokenize("abc", "words")


def test_vocab_order_and_unk():
    vocab = Vocab(list("xyyzzwww"))
    # '<unk>' first, then by frequency; y and z tie and keep their order of first appearance.
    assert vocab.idx_to_token == ["<unk>", "w", "y", "z", "x"]
    assert vocab.token_to_idx == {"<unk>": 0, "w": 1, "y": 2, "z": 3, "x": 4}
    assert vocab.token_freqs == [("w", 3), ("y", 2), ("z", 2), ("x", 1)]
    assert len(vocab) == 5 and vocab.unk == 0
    assert vocab["y"] == 2 and vocab["q"] == 0
    assert vocab[["y", "q", "x"]] == [2, 0, 4]
    assert vocab.to_tokens(1) == "w"
    assert vocab.to_tokens(np.int64(4)) == "x"
    assert vocab.to_tokens([2, 3]) == ["y", "z"]
    assert vocab.to_tokens([2]) == ["y"]
    assert vocab.to_tokens(torch.tensor([0, 1])) == ["<unk>", "w"]


def test_vocab_max_size_caps_including_unk():
    vocab = Vocab(list("xyyzzwww"), max_size=3)
    assert vocab.idx_to_token == ["<unk>", "w", "y"]
    assert vocab[["z", "x", "w"]] == [0, 0, 1]
    assert Vocab(list("abc"), max_size=1).idx_to_token == ["<unk>"]
    with pytest.raises(ValueError):
        Vocab(list("abc"), max_size=0)


# --------------------------------------------------------------------------------------------------
# time_machine_text: download, verify, cache


def test_download_is_verified_cached_and_reused(server, tmp_path, dead_url):
    text = corpora.time_machine_text(cache_dir=tmp_path, url=server + "good.txt", sha1=GOOD_SHA1)
    assert text == GOOD.decode()
    cached = list(tmp_path.iterdir())
    assert len(cached) == 1 and cached[0].read_bytes() == GOOD
    # The second call never touches the network.
    assert corpora.time_machine_text(cache_dir=tmp_path, url=dead_url, sha1=GOOD_SHA1) == text


def test_corrupt_cache_is_replaced_by_a_verified_download(server, tmp_path):
    corpora.time_machine_text(cache_dir=tmp_path, url=server + "good.txt", sha1=GOOD_SHA1)
    (cached,) = tmp_path.iterdir()
    cached.write_bytes(b"half a file")
    text = corpora.time_machine_text(cache_dir=tmp_path, url=server + "good.txt", sha1=GOOD_SHA1)
    assert text == GOOD.decode()
    assert cached.read_bytes() == GOOD


def test_corrupt_cache_with_no_network_raises_and_is_deleted(tmp_path, dead_url):
    cached = tmp_path / f"timemachine-{GOOD_SHA1[:10]}.txt"
    cached.write_bytes(b"junk")
    with pytest.raises(CorpusUnavailable):
        corpora.time_machine_text(cache_dir=tmp_path, url=dead_url, sha1=GOOD_SHA1, timeout=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ("corrupt.txt", "SHA-1"),
        ("partial.txt", "incomplete"),
        ("missing.txt", "404"),
        ("big.txt", "larger than"),
    ],
)
def test_bad_downloads_raise_and_cache_nothing(server, tmp_path, route, reason):
    cache = tmp_path / "cache"
    with pytest.raises(CorpusUnavailable, match=reason):
        corpora.time_machine_text(cache_dir=cache, url=server + route, sha1=GOOD_SHA1)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_read_only_cache_still_downloads_and_verifies(server, tmp_path, monkeypatch):
    import pooch

    def read_only(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(pooch, "retrieve", read_only)
    text = corpora.time_machine_text(cache_dir=tmp_path, url=server + "good.txt", sha1=GOOD_SHA1)
    assert text == GOOD.decode() and list(tmp_path.iterdir()) == []  # nothing cached
    with pytest.raises(CorpusUnavailable, match="SHA-1"):
        corpora.time_machine_text(cache_dir=tmp_path, url=server + "corrupt.txt", sha1=GOOD_SHA1)


def test_unreachable_and_slow_servers_raise_quickly(server, tmp_path, dead_url):
    start = time.monotonic()
    with pytest.raises(CorpusUnavailable, match="failed"):
        corpora.time_machine_text(cache_dir=tmp_path, url=dead_url, sha1=GOOD_SHA1, timeout=1)
    with pytest.raises(CorpusUnavailable, match="timed out"):
        corpora.time_machine_text(cache_dir=tmp_path, url=server + "slow.txt", sha1=GOOD_SHA1, timeout=0.3)
    assert time.monotonic() - start < 1.5
    assert list(tmp_path.iterdir()) == []


def test_time_machine_falls_back_to_bundled_with_a_notice(tmp_path, dead_url):
    corpus = corpora.load_corpus("time_machine", url=dead_url, cache_dir=tmp_path, timeout=1)
    assert corpus.name == "Shakespeare (bundled)"
    assert "could not be downloaded" in corpus.notice and dead_url in corpus.notice
    assert "refused" in corpus.notice.lower()
    assert len(corpus) == 10_000 and len(corpus.vocab) == 28


def test_time_machine_from_a_verified_file(server, tmp_path, monkeypatch):
    # load_corpus checks the real book's hash; accept the test file's instead.
    verified = functools.partial(corpora.time_machine_text, sha1=GOOD_SHA1)
    monkeypatch.setattr(corpora, "time_machine_text", verified)
    corpus = corpora.load_corpus("time_machine", url=server + "good.txt", cache_dir=tmp_path, max_tokens=50)
    assert corpus.name == "The Time Machine" and corpus.notice is None
    assert corpus.vocab.to_tokens(corpus.corpus) == list(
        "the time machine by h g wellsithe time traveller f"  # lines join with no separator (d2l)
    )


# --------------------------------------------------------------------------------------------------
# The bundled corpus


def test_bundled_text_has_no_markup_and_is_large():
    text = corpora.bundled_text()
    assert text.startswith("Hamlet\n")
    assert not re.search(r"[#*_\[\]\\<>`]", text)
    assert not re.search(r" +$", text, re.MULTILINE)  # the Markdown line-break spaces are gone
    tokens = data.tokenize(text)
    assert len(tokens) > 200_000
    assert len(Vocab(tokens)) == 28
    assert corpora.bundled_text() is text  # cached


def test_a_damaged_bundled_file_says_so(tmp_path, monkeypatch):
    corpora.bundled_text.cache_clear()
    try:
        damaged = tmp_path / "shakespeare.txt.xz"
        damaged.write_bytes(lzma.compress(lzma.decompress(corpora.BUNDLED_FILE.read_bytes())[:-1]))
        monkeypatch.setattr(corpora, "BUNDLED_FILE", damaged)
        with pytest.raises(CorpusUnavailable, match="damaged"):
            corpora.bundled_text()
        damaged.write_bytes(b"not xz")
        with pytest.raises(CorpusUnavailable, match="cannot be read"):
            corpora.bundled_text()
    finally:
        corpora.bundled_text.cache_clear()


# --------------------------------------------------------------------------------------------------
# Uploads


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"", "empty"),
        (b"  \n\t \r\n", "empty"),
        ("\u3000\n".encode(), "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "binary"),
        (b"abc\x01\x02\x03\x04\x05\x06def", "binary"),
        ("café au lait".encode("latin-1"), "not_utf8"),
        ("hello".encode("utf-16"), "not_utf8"),
    ],
)
def test_decode_upload_rejects(raw, kind):
    with pytest.raises(CorpusError) as info:
        corpora.decode_upload(raw)
    assert info.value.kind == kind
    assert str(info.value).endswith(".")


def test_decode_upload_messages_are_specific():
    with pytest.raises(CorpusError, match=r"byte 0xe9 at position 3\)\. Save it as UTF-8"):
        corpora.decode_upload("café".encode("latin-1"))
    with pytest.raises(CorpusError, match="position 6") as info:
        corpora.decode_upload(b"\xef\xbb\xbfcaf\xe9")  # positions count the BOM
    assert info.value.kind == "not_utf8"
    with pytest.raises(CorpusError, match="limit") as info:
        corpora.decode_upload(b"a" * 11, max_bytes=10)
    assert info.value.kind == "too_large"
    assert corpora.decode_upload(b"a" * 10, max_bytes=10) == "a" * 10


def test_a_refused_upload_shows_the_real_limit_when_rounding_hides_it():
    with pytest.raises(CorpusError) as info:
        corpora.decode_upload(b"a" * 2_000_001, max_bytes=2_000_000)
    assert "2,000,001 bytes, more than the 2,000,000 bytes limit" in info.value.message
    with pytest.raises(CorpusError) as info:
        corpora.decode_upload(b"a" * 3_500_000, max_bytes=2_000_000)
    assert "3.5 MB, more than the 2.0 MB limit" in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "时间旅行者正在给我们讲解一个深奥的问题。\n",
        "emoji 🙂🚀 too",
        '<script>alert(1)</script> **bold** # heading [link](http://x) & "quotes"',
    ],
)
def test_decode_upload_returns_text_verbatim(text):
    assert corpora.decode_upload(text.encode()) == text
    assert corpora.decode_upload(b"\xef\xbb\xbf" + text.encode()) == text  # BOM dropped


def test_load_corpus_upload_and_bad_names():
    corpus = corpora.load_corpus("upload", upload=("C:\\docs\\notes.txt", b"Hello, world. Hello!"))
    assert corpus.name == "upload: notes.txt"
    assert corpus.vocab.to_tokens(corpus.corpus) == list("hello world hello")
    with pytest.raises(CorpusError) as info:
        corpora.load_corpus("upload", upload=("x.png", b"\x89PNG\r\n\x1a\n\x00\x00"))
    assert info.value.kind == "binary"
    with pytest.raises(CorpusError):
        corpora.load_corpus("upload")
    with pytest.raises(ValueError):
        corpora.load_corpus("wikipedia")


# --------------------------------------------------------------------------------------------------
# make_corpus

CHINESE = "时间旅行者（为了方便起见我们这样称呼他）正在给我们讲解一个深奥的问题。他灰色的眼睛闪闪发光。" * 20


def test_chinese_in_letters_mode_suggests_chars():
    with pytest.raises(CorpusError, match="'chars'") as info:
        data.make_corpus(CHINESE + " Time Traveller", "zh")
    assert info.value.kind == "too_short"


def test_chinese_in_chars_mode_trains_with_capped_vocab():
    corpus = data.make_corpus(CHINESE, "zh", tokenizer="chars", max_tokens=500, max_vocab=10)
    assert len(corpus) == 500 and len(corpus.vocab) == 10
    assert max(corpus.corpus) == 9 and 0 in corpus.corpus  # rare characters became <unk>
    assert corpus.vocab.to_tokens(corpus.corpus[:5]) == ["时", "间", "旅", "<unk>", "<unk>"]


def test_make_corpus_keeps_the_first_max_tokens_and_rejects_tiny_text():
    corpus = data.make_corpus("abc def " * 100, "t", max_tokens=7, notice="hi")
    assert corpus.vocab.to_tokens(corpus.corpus) == list("abc def")
    assert len(corpus.vocab) == 8 and corpus.notice == "hi"  # vocab over the kept tokens only
    for text in ["!!!", "a", "12 34"]:
        with pytest.raises(CorpusError) as info:
            data.make_corpus(text, "t")
        assert info.value.kind == "too_short"
    # Mostly English with a few accented letters: letters mode is fine (they are dropped as in the book).
    assert len(data.make_corpus("Café crème, s'il vous plaît, merci beaucoup", "fr")) > 10


# --------------------------------------------------------------------------------------------------
# Samplers (d2l §8.3)


class FixedOffset:
    """A stand-in rng: integers() returns its lowest or highest value; shuffling is real."""

    def __init__(self, worst: bool):
        self.worst, self.rng = worst, np.random.default_rng(0)

    def integers(self, low, high):
        return high - 1 if self.worst else low

    def shuffle(self, x):
        self.rng.shuffle(x)


SAMPLERS = {"random": data.seq_data_iter_random, "sequential": data.seq_data_iter_sequential}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampler_shapes_and_labels(sampler):
    positions = list(range(1000))  # token value == its position in the corpus
    arbitrary = np.random.default_rng(1).integers(0, 28, size=1000)
    pos_batches = list(SAMPLERS[sampler](positions, 4, 7, np.random.default_rng(5)))
    arb_batches = list(SAMPLERS[sampler](arbitrary.tolist(), 4, 7, np.random.default_rng(5)))
    assert len(pos_batches) == len(arb_batches) >= data.num_batches(1000, 4, 7, sampler) > 0
    for (X, Y), (Xa, Ya) in zip(pos_batches, arb_batches, strict=True):
        assert X.shape == Y.shape == (4, 7) and X.dtype == Y.dtype == torch.int64
        assert torch.equal(Y, X + 1)
        assert torch.equal(Xa, torch.from_numpy(arbitrary[X.numpy()]))
        assert torch.equal(Ya, torch.from_numpy(arbitrary[X.numpy() + 1]))


def test_sequential_rows_continue_across_minibatches():
    batches = list(data.seq_data_iter_sequential(list(range(500)), 3, 5, np.random.default_rng(2)))
    assert len(batches) > 2
    for (X0, _), (X1, _) in zip(batches, batches[1:]):
        assert torch.equal(X1[:, 0], X0[:, -1] + 1)
    offset = int(batches[0][0][0, 0])
    assert 0 <= offset <= 5  # random.randint(0, num_steps): both ends included


def test_random_subsequences_are_disjoint_and_aligned():
    T = 6
    batches = list(data.seq_data_iter_random(list(range(400)), 5, T, np.random.default_rng(3)))
    starts = torch.cat([X[:, 0] for X, _ in batches])
    offsets = set((starts % T).tolist())
    assert len(offsets) == 1 and offsets.pop() < T
    seen = torch.cat([X.flatten() for X, _ in batches])
    assert len(set(seen.tolist())) == len(seen)  # no token appears in two subsequences
    assert sorted(starts.tolist()) != starts.tolist()  # shuffled


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_same_seed_same_batches(sampler):
    def run(seed):
        return list(SAMPLERS[sampler](list(range(300)), 3, 4, np.random.default_rng(seed)))

    a, b, c = run(7), run(7), run(8)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(a, b, strict=True))
    assert len(a) != len(c) or not all(torch.equal(x, y) for (x, _), (y, _) in zip(a, c))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_check_trainable_and_num_batches_match_iteration(sampler):
    for num_tokens in range(0, 45):
        for batch_size in range(1, 5):
            for num_steps in range(1, 6):
                corpus = list(range(num_tokens))
                worst = len(list(SAMPLERS[sampler](corpus, batch_size, num_steps, FixedOffset(True))))
                best = len(list(SAMPLERS[sampler](corpus, batch_size, num_steps, FixedOffset(False))))
                assert data.num_batches(num_tokens, batch_size, num_steps, sampler) == worst
                assert best - worst in (0, 1)
                if worst == 0:
                    with pytest.raises(CorpusError, match=f"this text has {num_tokens}") as info:
                        data.check_trainable(num_tokens, batch_size, num_steps, sampler)
                    assert info.value.kind == "too_short"
                    need = int(re.search(r"at least ([\d,]+) tokens", str(info.value))[1].replace(",", ""))
                    assert need > num_tokens
                    assert data.num_batches(need, batch_size, num_steps, sampler) == 1
                else:
                    data.check_trainable(num_tokens, batch_size, num_steps, sampler)


# --------------------------------------------------------------------------------------------------
# Properties

LINE = st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(LINE, max_size=6))
def test_letters_tokens_are_lowercase_letters_and_single_spaces(lines):
    per_line = ["".join(data.tokenize(line)) for line in lines]
    for line in per_line:
        assert re.fullmatch(r"[a-z ]*", line)
        assert line == line.strip() and "  " not in line
    assert data.tokenize("\n".join(lines)) == list("".join(per_line))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["letters", "chars"]), st.none() | st.integers(1, 40))
def test_make_corpus_indices_are_in_the_vocab(text, tokenizer, max_vocab):
    try:
        corpus = data.make_corpus(text, "t", tokenizer=tokenizer, max_vocab=max_vocab, max_tokens=100)
    except CorpusError:
        return
    assert 2 <= len(corpus) <= 100
    assert all(0 <= i < len(corpus.vocab) for i in corpus.corpus)
    assert max_vocab is None or len(corpus.vocab) <= max_vocab


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 400))
def test_decode_upload_raises_only_corpus_errors(raw, max_bytes):
    try:
        text = corpora.decode_upload(raw, max_bytes=max_bytes)
    except CorpusError as e:
        assert e.kind in CorpusError.KINDS
    else:
        assert isinstance(text, str) and text.strip()
