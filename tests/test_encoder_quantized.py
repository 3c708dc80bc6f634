"""The encoder's integer-product model: derived once and cached, a text's vector its own, close to the float model's."""
from __future__ import annotations

import logging
import os
import time

import numpy as np
import pytest

from ragmeter.metrics.judges.embedded import quantize
from ragmeter.metrics.judges.embedded.encoder import LABEL, QUANTIZED_LABEL, Encoder, default_model_path
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge

SENTENCES = [
    "The Eiffel Tower was completed in March 1889 for the World's Fair.",
    "It is 330 metres tall and stands on the Champ de Mars in Paris.",
    "Temperatures dropped sharply overnight, and roads became icy.",
    "The International Monetary Fund cut its global growth forecast to 2.9 percent, citing trade tensions.",
    "Berlin has 3.7 million inhabitants.",
    "ok",
]


@pytest.fixture(scope="module")
def quantized() -> Encoder:
    return Encoder.load(quantized=True)


@pytest.fixture(scope="module")
def floating() -> Encoder:
    return Encoder.load(quantized=False)


def test_the_default_encoder_runs_integer_products_and_results_say_so(quantized, monkeypatch):
    monkeypatch.delenv("RAGMETER_ENCODER_QUANTIZED", raising=False)
    assert Encoder.load().label == QUANTIZED_LABEL
    assert EmbeddedJudge(quantized).info.embedding_model == QUANTIZED_LABEL


def test_the_setting_false_runs_the_shipped_float_products(monkeypatch):
    monkeypatch.setenv("RAGMETER_ENCODER_QUANTIZED", "false")
    encoder = Encoder.load()
    assert encoder.label == LABEL
    assert EmbeddedJudge(encoder).info.embedding_model == LABEL


def test_a_texts_vector_does_not_depend_on_the_texts_encoded_with_it(quantized):
    # Activations are scaled per run: batched with a longer text, the short one would come out differently.
    alone = quantized.encode([SENTENCES[4]])[0]
    together = quantized.encode(SENTENCES)[4]
    assert np.array_equal(alone, together)
    assert np.array_equal(quantized.encode(SENTENCES[::-1])[::-1], quantized.encode(SENTENCES))


def test_texts_run_on_several_cores_come_back_in_order_and_unchanged(quantized):
    two = Encoder.load(quantized=True, threads=2)
    assert two.cores == 2 and quantized.cores >= 1
    assert np.array_equal(two.encode(SENTENCES), Encoder.load(quantized=True, threads=1).encode(SENTENCES))


def test_integer_vectors_stay_close_to_the_float_models(quantized, floating):
    a, b = quantized.encode(SENTENCES), floating.encode(SENTENCES)
    cosines = (a * b).sum(axis=1)
    assert cosines.mean() > 0.985 and cosines.min() > 0.96  # the shortest texts move most ("ok": 0.97)
    assert np.abs(a @ a.T - b @ b.T).max() < 0.07
    # A paraphrase still sits far above an unrelated sentence.
    pair = quantized.encode(["Temperatures dropped sharply overnight.", "It got much colder during the night.",
                             "Berlin has 3.7 million inhabitants."])
    assert pair[0] @ pair[1] > pair[0] @ pair[2] + 0.3


def test_the_derived_model_is_kept_and_loaded_again_without_deriving(tmp_path, monkeypatch):
    first = quantize.quantized_model(default_model_path(), tmp_path)
    assert isinstance(first, type(tmp_path)) and first.parent == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no partial file left behind

    def no_second_derivation(*args):
        raise AssertionError("derived again")

    monkeypatch.setattr(quantize, "derive", no_second_derivation)
    assert quantize.quantized_model(default_model_path(), tmp_path) == first


def test_a_partial_file_left_by_a_killed_process_is_removed_when_the_model_is_derived(tmp_path):
    stale, fresh = tmp_path / "model.onnx123.part", tmp_path / "model.onnx456.part"
    for partial in (stale, fresh):
        partial.write_bytes(b"half a model")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    quantize.quantized_model(default_model_path(), tmp_path)
    assert not stale.exists() and fresh.exists()  # a recent one may be another process's, still being written


def test_a_damaged_cached_model_is_derived_again(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("RAGMETER_MODEL_CACHE", str(tmp_path))
    damaged = quantize.cached_path(default_model_path())
    damaged.write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING, logger="ragmeter.encoder"):
        encoder = Encoder.load(quantized=True)
    assert encoder.label == QUANTIZED_LABEL and "deriving it again" in caplog.text
    assert damaged.stat().st_size > 1_000_000


def test_a_folder_that_cannot_be_written_still_gives_the_model(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    model = quantize.quantized_model(default_model_path(), blocker / "cache")
    assert isinstance(model, bytes) and len(model) > 1_000_000


def test_a_failed_derivation_falls_back_to_the_float_model_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("RAGMETER_MODEL_CACHE", str(tmp_path))

    def broken(*args):
        raise RuntimeError("no quantizer here")

    monkeypatch.setattr(quantize, "derive", broken)
    with caplog.at_level(logging.WARNING, logger="ragmeter.encoder"):
        encoder = Encoder.load(quantized=True)
    assert encoder.label == LABEL
    assert "no quantizer here" in caplog.text
    assert encoder.encode(["still encodes"]).shape == (1, 384)


def test_deriving_leaves_the_apps_logging_as_it_was(tmp_path, monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    quantize.quantized_model(default_model_path(), tmp_path)
    assert root.handlers == []
