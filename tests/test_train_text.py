"""Tokenizers trained locally, corpora and token windows."""

from __future__ import annotations

import pytest
import torch

from qbridge.train import BPETokenizer, CharTokenizer, TokenData, load_corpus, load_tokenizer, pydoc_corpus, train_tokenizer

TEXT = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
) * 20 + "naïve café — 東京 ✓\n"


def test_char_round_trip_and_vocabulary():
    tok = CharTokenizer.train(TEXT)
    assert tok.vocab_size == len(set(TEXT))
    assert tok.chars == sorted(set(TEXT))
    ids = tok.encode(TEXT)
    assert len(ids) == len(TEXT)
    assert tok.decode(ids) == TEXT
    assert tok.decode(torch.tensor(ids[:10])) == TEXT[:10]


def test_char_unknown_character_is_an_error_naming_it():
    tok = CharTokenizer.train("abc")
    with pytest.raises(ValueError, match="'z'"):
        tok.encode("abz")


def test_char_save_load(tmp_path):
    tok = CharTokenizer.train(TEXT)
    tok.save(tmp_path / "t.json")
    again = load_tokenizer(tmp_path / "t.json")
    assert isinstance(again, CharTokenizer) and again.chars == tok.chars


def test_bpe_round_trip_merges_and_save_load(tmp_path):
    tok = BPETokenizer.train(TEXT, vocab_size=300)
    assert 256 < tok.vocab_size <= 300
    ids = tok.encode(TEXT)
    assert tok.decode(ids) == TEXT  # byte level: exact, including non-ASCII
    assert len(ids) < len(TEXT.encode("utf-8")) / 2  # merges learned on the repeated text compress it
    unseen = "Zebra quux 42 ∑"  # characters never seen in training still round-trip (bytes)
    assert tok.decode(tok.encode(unseen)) == unseen
    tok.save(tmp_path / "bpe.json")
    again = load_tokenizer(tmp_path / "bpe.json")
    assert isinstance(again, BPETokenizer)
    assert again.encode(TEXT) == ids


def test_train_tokenizer_kinds():
    assert isinstance(train_tokenizer(TEXT, "char"), CharTokenizer)
    with pytest.raises(ValueError, match="'char' or 'bpe'"):
        train_tokenizer(TEXT, "word")
    with pytest.raises(ValueError, match="256"):
        BPETokenizer.train(TEXT, vocab_size=100)


def test_load_tokenizer_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"kind": "sentencepiece"}')
    with pytest.raises(ValueError, match="not a qbridge tokenizer"):
        load_tokenizer(tmp_path / "x.json")


def test_pydoc_corpus_and_files(tmp_path):
    text = pydoc_corpus()
    assert len(text) > 300_000 and "the" in text
    assert load_corpus(None, max_chars=1000) == text[:1000]
    p = tmp_path / "c.txt"
    p.write_text("héllo world", encoding="utf-8")
    assert load_corpus(p) == "héllo world"
    with pytest.raises(FileNotFoundError, match="--corpus|not found"):
        load_corpus(tmp_path / "missing.txt")


def test_token_data_split_and_windows():
    ids = list(range(1000))
    data = TokenData(ids, train_fraction=0.64, test_fraction=0.04)
    assert data.train.tolist() == list(range(640))
    assert data.test.tolist() == list(range(960, 1000))
    g = torch.Generator().manual_seed(0)
    x, y = data.batch("train", 8, 16, g)
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(y, x + 1)  # targets are the inputs shifted by one
    assert int(x.max()) < 640
    wins = list(data.windows("test", 16, stride=1, batch_size=7))
    xs = torch.cat([w[0] for w in wins])
    assert xs.shape[0] == data.num_windows("test", 16, stride=1) == 40 - 16
    assert xs[:, 0].tolist() == list(range(960, 960 + 24))
    with pytest.raises(ValueError, match="too few"):
        next(data.windows("test", 64))
    with pytest.raises(ValueError):
        TokenData(ids, train_fraction=0.9, test_fraction=0.2)
