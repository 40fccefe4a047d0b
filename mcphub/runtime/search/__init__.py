"""Tool search: find the few tools that fit a request among thousands (lexical BM25 + sentence embeddings).

Public surface: `SearchIndex` (pure, filter per caller at query time), `load_index` (from catalog folders,
vectors cached on disk by manifest hash), `SearchHit.as_dict` (the answer shape), `compact_schema`.
"""

from mcphub.runtime.search.documents import PackageDocs, ToolDoc, load_catalogs
from mcphub.runtime.search.index import SearchHit, SearchIndex, load_index
from mcphub.runtime.search.schema import compact_schema

__all__ = ["PackageDocs", "SearchHit", "SearchIndex", "ToolDoc", "compact_schema", "load_catalogs", "load_index"]
