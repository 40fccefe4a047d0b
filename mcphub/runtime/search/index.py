"""The tool-search index: BM25 + sentence embeddings, fused by reciprocal rank, filtered per caller at query time.

`SearchIndex` is pure: built over every tool a hub (or a CLI run) has mounted, it answers `search(query, ...)`
for any subset of those tools (`visible`: the names a key may call), so one index serves every key and a key's
scope is applied per query, never baked in.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mcphub.runtime.search.documents import PackageDocs, ToolDoc, split_words, text_key
from mcphub.runtime.search.embeddings import (
    EmbeddingUnavailable,
    Encoder,
    Vectors,
    one_blas_thread,
    shared_encoder,
)
from mcphub.runtime.search.intent import DELETE, KINDS, query_actions, tool_action
from mcphub.runtime.search.lexical import LexicalIndex, embedding_query, terms
from mcphub.runtime.search.schema import compact_schema
from mcphub.runtime.search.vocabulary import INTEGRATION_WORDS

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "lexical", "embedding"]
CACHE_ENV = "MCPHUB_SEARCH_CACHE"
# Reciprocal rank fusion constant (Cormack et al. use 60); smaller lets the top ranks of each list count more.
RRF_K = 20
WEAK_COSINE = 0.35
# Added to the fused (RRF) score: a rank-1 hit in one list is worth 1/(RRF_K+1) ≈ 0.048.
# Preferences that do not come from word overlap, in units of one part's best normalised score.
MENTION_BONUS = 0.5
CURATED_BONUS = 0.2
# A tool whose action (delete / create / update / list / get) is one the request asks for; a destructive tool
# when the request asks to remove nothing.
ACTION_BONUS = 0.2
DESTRUCTIVE_PENALTY = 0.1
# A request using an integration's own nouns ("channel", "invoice", "pull request"), as its description lists
# them (plus vocabulary.py's everyday words): shared words, weighted by how few integrations use each.
VOCAB_BONUS = 0.2
# Times the share of a tool's name words found in the request.
NAME_BONUS = 0.3
# Hybrid = LEXICAL_WEIGHT × BM25 / best BM25 + (1 - LEXICAL_WEIGHT) × cosine rescaled to [0, 1] above the median.
# 0.6 since the embedded request lost its phrasing (lexical.embedding_query): chosen on the tuning half.
FUSION: Literal["weighted", "rrf"] = "weighted"
LEXICAL_WEIGHT = 0.6


def _one_edit(word: str) -> set[str]:
    """Spellings one deletion, transposition or substitution away (for service names: "slak", "jria")."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = {word[:i] + word[i + 1 :] for i in range(len(word))}
    out |= {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    out |= {word[:i] + c + word[i + 1 :] for i in range(len(word)) for c in letters}
    out |= {word[:i] + c + word[i:] for i in range(len(word) + 1) for c in letters}
    return out


def _mention_table(docs: Sequence[ToolDoc]) -> dict[str, set[str]]:
    """Words that name an integration: its slug ("google-drive" → "google drive") and its display name."""
    table: dict[str, set[str]] = {}
    for doc in docs:
        names = {" ".join(split_words(doc.integration)), " ".join(split_words(doc.fields.get("integration_name", "")))}
        for name in names:
            if name:
                table.setdefault(name, set()).add(doc.integration)
                if " " in name:  # "google drive" is also named by "drive"
                    table.setdefault(name.split()[-1], set()).add(doc.integration)
    return table


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcphub" / "search"


@dataclass(frozen=True)
class SearchHit:
    doc: ToolDoc
    score: float
    lexical: float
    cosine: float

    def as_dict(self, *, with_schema: bool = True) -> dict[str, Any]:
        """The answer shape shared by `mcphub tools search --json` and the `search_tools` meta-tool."""
        entry: dict[str, Any] = {
            "name": self.doc.name,
            "integration": self.doc.integration,
            "score": round(self.score, 4),
        }
        if self.doc.operation:
            entry["operation"] = self.doc.operation
        if self.doc.graphql_field:
            entry["graphql"] = self.doc.graphql_field
        entry["description"] = self.doc.summary
        if with_schema:
            entry["inputSchema"] = compact_schema(self.doc.input_schema)
        return entry


def _vectors_for(package: PackageDocs, encoder: Encoder, cache_dir: Path | None) -> Vectors:
    """One package's tool vectors. The disk cache is per integration and model, keyed by each tool's embedded
    text, so a recompile re-embeds only the tools whose text changed, and a curated package and the rest of
    its API share one file."""
    texts = [doc.embedding_text() for doc in package.docs]
    if not texts:
        return np.zeros((0, encoder.dimension), dtype=np.float32)
    keys = [text_key(doc) for doc in package.docs]
    stored = package.vectors if package.model == encoder.fingerprint else {}
    if all(key in stored for key in keys):  # the index compiled with the package: nothing to embed or cache
        return np.stack([stored[key] for key in keys]).astype(np.float32, copy=False)
    model = hashlib.sha256(encoder.fingerprint.encode()).hexdigest()[:16]
    path = cache_dir / f"{package.slug}-{model}.npz" if cache_dir else None
    known: dict[str, Vectors] = dict(stored)
    if path is not None and path.exists():
        try:
            with np.load(path) as cached:
                known.update(zip(cached["keys"].tolist(), cached["vectors"], strict=True))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("search cache %s unreadable (%s); re-embedding %s", path, exc, package.slug)
    missing = sorted({i for i, key in enumerate(keys) if key not in known}, key=keys.__getitem__)
    if missing:
        fresh = encoder.encode([texts[i] for i in missing])
        for row, i in enumerate(missing):
            known[keys[i]] = fresh[row]
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
                np.savez(tmp, keys=np.asarray(list(known)), vectors=np.stack(list(known.values())))
                os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
            except OSError as exc:
                log.warning("search cache %s not writable (%s); vectors kept in memory only", path, exc)
    return np.stack([known[key] for key in keys]).astype(np.float32, copy=False)


class SearchIndex:
    """Search over a fixed set of tools. Build once per catalog snapshot; query from any number of callers."""

    def __init__(
        self,
        packages: Sequence[PackageDocs],
        *,
        embeddings: bool = True,
        encoder: Encoder | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.docs: list[ToolDoc] = [doc for package in packages for doc in package.docs]
        self.position = {doc.name: i for i, doc in enumerate(self.docs)}
        self.integrations = np.asarray([doc.integration for doc in self.docs], dtype=object)
        # Per integration, its tools' positions: the integration priors add to these without comparing strings.
        self._by_integration: dict[str, npt.NDArray[np.intp]] = {
            slug: np.flatnonzero(self.integrations == slug) for slug in dict.fromkeys(self.integrations.tolist())
        }
        self.curated = np.asarray([doc.curated for doc in self.docs], dtype=bool)
        self.encoder: Encoder | None = None
        self.vectors: Vectors | None = None
        self.embedding_error: str | None = None
        if embeddings:
            try:
                self.encoder = encoder or shared_encoder()
                parts = [_vectors_for(p, self.encoder, cache_dir) for p in packages]
                self.vectors = np.concatenate(parts) if parts else np.zeros((0, self.encoder.dimension), np.float32)
            except EmbeddingUnavailable as exc:
                # Lexical search still works; say once why the hybrid is off.
                self.embedding_error = str(exc)
                self.encoder = None
                log.warning("tool search without embeddings: %s", exc)
        dictionary = self.encoder.vocabulary() if self.encoder is not None else frozenset()
        surface = {word: term for package in packages for word, term in package.surface.items()}
        self.lexical = LexicalIndex(self.docs, dictionary=dictionary, surface=surface)
        self.mentions = _mention_table(self.docs)
        kinds = {kind: i for i, kind in enumerate(KINDS)}
        self.actions = np.asarray([kinds.get(tool_action(doc) or "", -1) for doc in self.docs], dtype=np.int8)
        self._about_terms = self._about()

    def _about(self) -> dict[str, set[str]]:
        """Per integration: the words of its name, its description's first sentence and its everyday words."""
        texts: dict[str, str] = {}
        for doc in self.docs:
            if doc.integration not in texts:
                name = doc.fields.get("integration_name", doc.integration)
                texts[doc.integration] = f"{name}: {doc.fields.get('about', '')}"
        return {slug: set(terms(f"{text} {INTEGRATION_WORDS.get(slug, '')}")) for slug, text in texts.items()}

    @classmethod
    def from_docs(cls, docs: Sequence[ToolDoc], **kwargs: Any) -> SearchIndex:
        """An index over loose documents (tests, one-off tools): one pseudo-package, no disk cache."""
        kwargs.setdefault("cache_dir", None)
        return cls([PackageDocs("adhoc", "", list(docs))], **kwargs)

    def __len__(self) -> int:
        return len(self.docs)

    def _mask(self, visible: Collection[str] | None, integration: str | None) -> npt.NDArray[np.bool_] | None:
        mask: npt.NDArray[np.bool_] | None = None
        if visible is not None:
            mask = np.zeros(len(self.docs), dtype=bool)
            ids = [self.position[name] for name in visible if name in self.position]
            mask[ids] = True
        if integration is not None:
            by_integration = self.integrations == integration
            mask = by_integration if mask is None else mask & by_integration
        return mask

    def search(
        self,
        query: str,
        *,
        limit: int = 5,
        visible: Collection[str] | None = None,
        integration: str | None = None,
        mode: Mode = "hybrid",
    ) -> list[SearchHit]:
        """The best `limit` tools for `query`, best first, among `visible` (hub tool names; None = all) of
        `integration` (None = any). `mode` picks one part alone, for evaluation."""
        if not self.docs or limit <= 0:
            return []
        if mode != "lexical" and self.vectors is None:
            if mode == "embedding":
                raise EmbeddingUnavailable(self.embedding_error or "no embedding model loaded")
            mode = "lexical"
        mask = self._mask(visible, integration)
        lexical = self.lexical.scores(query) if mode != "embedding" else None
        cosine = None
        if mode != "lexical":
            assert self.encoder is not None and self.vectors is not None
            query_vector = self.encoder.encode([embedding_query(query)])[0]
            with one_blas_thread():  # one matrix-vector product: BLAS threads would only spin (see encode)
                cosine = self.vectors @ query_vector
        if mode == "lexical":
            assert lexical is not None
            combined = lexical.copy()
        elif mode == "embedding":
            assert cosine is not None
            combined = cosine.copy()
        else:
            assert lexical is not None and cosine is not None
            combined = self._fuse(lexical, cosine, mask)
        if mode == "hybrid":
            # RRF scores are ~1/(RRF_K + rank): a bonus of 1.0 there is worth about one first place.
            scale = 1.0 / (RRF_K + 1) if FUSION == "rrf" else 1.0
            combined += self._priors(query) * np.float32(scale)
        elif mode == "lexical":
            # BM25 has no fixed scale, so the same preferences apply as factors on the tools that matched.
            combined *= 1.0 + self._priors(query)
        if mask is not None:
            combined[~mask] = -np.inf
        if mode == "lexical":
            combined[combined <= 0] = -np.inf  # no word in common: not a match at all
        count = min(limit, int(np.isfinite(combined).sum()))
        if count == 0:
            return []
        top = np.argpartition(-combined, count - 1)[:count]
        top = top[np.argsort(-combined[top], kind="stable")]
        return [
            SearchHit(
                doc=self.docs[i],
                score=float(combined[i]),
                lexical=float(lexical[i]) if lexical is not None else 0.0,
                cosine=float(cosine[i]) if cosine is not None else 0.0,
            )
            for i in top
        ]

    def _priors(self, query: str) -> Vectors:
        """Boosts that do not depend on the wording's overlap with one tool: a request that names a service
        ("in jira", "on slak") or uses its nouns prefers that service's tools; curated tools (the integration's
        flat list, written and reviewed by hand) rank before the rest of the API; a tool doing the action the
        request asks for ranks before its neighbours on the same object."""
        bonus = np.zeros(len(self.docs), dtype=np.float32)
        named = self.mentioned_integrations(query)
        for slug in named:
            bonus[self._by_integration[slug]] += MENTION_BONUS
        bonus[self.curated] += CURATED_BONUS
        if VOCAB_BONUS:
            for slug, weight in self.integration_affinity(query).items():
                bonus[self._by_integration[slug]] += weight
        if NAME_BONUS:
            bonus += np.float32(NAME_BONUS) * self.lexical.name_coverage(query)
        if ACTION_BONUS or DESTRUCTIVE_PENALTY:
            asked = query_actions(query)
            if asked:
                wanted = [KINDS.index(kind) for kind in asked]
                bonus[np.isin(self.actions, wanted)] += ACTION_BONUS
            if DELETE not in asked:
                bonus[self.actions == KINDS.index(DELETE)] -= DESTRUCTIVE_PENALTY
        return bonus

    def integration_affinity(self, query: str) -> dict[str, float]:
        """How much a request sounds like each integration (0 to VOCAB_BONUS, the closest one gets it whole):
        its words found in the integration's description and everyday words, a word only one integration uses
        counting most."""
        out: dict[str, float] = {}
        if self._about_terms:
            # The request's own words count whole, synonyms and typo fixes at their expansion weight.
            asked = {term: 1.0 for term in terms(query)}
            for term, weight in self.lexical.expand(query).items():
                asked[term] = max(asked.get(term, 0.0), weight)
            count = len(self._about_terms)
            spread = {term: sum(1 for words in self._about_terms.values() if term in words) for term in asked}
            raw = {
                slug: sum(asked[term] * float(np.log1p(count / spread[term])) for term in asked if term in words)
                for slug, words in self._about_terms.items()
            }
            best = max(raw.values())
            if best > 0:
                out = {slug: VOCAB_BONUS * value / best for slug, value in raw.items()}
        return out

    def mentioned_integrations(self, query: str) -> set[str]:
        found: set[str] = set()
        words = split_words(query)
        for size in (1, 2):
            for i in range(len(words) - size + 1):
                phrase = " ".join(words[i : i + size])
                found |= self.mentions.get(phrase, set())
                if size == 1 and len(phrase) >= 4 and not found:
                    for variant in _one_edit(phrase):
                        found |= self.mentions.get(variant, set())
        return found

    def _fuse(self, lexical: Vectors, cosine: Vectors, mask: npt.NDArray[np.bool_] | None) -> Vectors:
        if FUSION == "rrf":
            return self._rrf(lexical, cosine, mask)
        return self._weighted(lexical, cosine, mask)

    def _weighted(self, lexical: Vectors, cosine: Vectors, mask: npt.NDArray[np.bool_] | None) -> Vectors:
        """Scores, not ranks: a confident BM25 match (one tool far above the rest) keeps its lead over a flat,
        unsure embedding list, and the reverse; both parts are normalised over the visible tools."""
        pool = mask if mask is not None else slice(None)
        best_lexical = float(lexical[pool].max(initial=0.0))
        lexical_part = lexical / best_lexical if best_lexical > 0 else np.zeros_like(lexical)
        visible_cosine = cosine[pool]
        if visible_cosine.size == 0:
            return lexical_part
        floor = float(np.median(visible_cosine))
        top = float(visible_cosine.max())
        cosine_part = np.clip((cosine - floor) / max(top - floor, 1e-6), 0.0, 1.0)
        return np.asarray(LEXICAL_WEIGHT * lexical_part + (1 - LEXICAL_WEIGHT) * cosine_part, dtype=np.float32)

    def _rrf(self, lexical: Vectors, cosine: Vectors, mask: npt.NDArray[np.bool_] | None) -> Vectors:
        """Reciprocal rank fusion over the candidates each part ranks (restricted to the visible tools, so a
        key's ranks are computed among the tools it can see)."""
        fused = np.zeros(len(self.docs), dtype=np.float32)
        for scores, only_positive in ((lexical, True), (cosine, False)):
            candidates = np.flatnonzero(mask) if mask is not None else np.arange(len(self.docs))
            if only_positive:
                candidates = candidates[scores[candidates] > 0]
            depth = min(len(candidates), 100)
            if depth == 0:
                continue
            best = candidates[np.argpartition(-scores[candidates], depth - 1)[:depth]]
            best = best[np.argsort(-scores[best], kind="stable")]
            fused[best] += 1.0 / (RRF_K + np.arange(1, depth + 1, dtype=np.float32))
        return fused

    def weak(self, hits: Sequence[SearchHit]) -> bool:
        """True when even the best match is a poor one: no query word in common and a low cosine."""
        if not hits:
            return True
        best = hits[0]
        if self.vectors is None:
            return best.lexical <= 0
        return best.cosine < WEAK_COSINE and best.lexical < 1.0


def load_index(
    catalogs: Sequence[Path],
    *,
    include_disabled: bool = False,
    embeddings: bool = True,
    cache_dir: Path | None = None,
) -> SearchIndex:
    """An index over every package in `catalogs` (folders of compiled packages), vectors cached on disk."""
    from mcphub.runtime.search.documents import load_catalogs

    packages = load_catalogs(catalogs, include_disabled=include_disabled)
    return SearchIndex(packages, embeddings=embeddings, cache_dir=cache_dir or default_cache_dir())
