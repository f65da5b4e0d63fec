"""A LangChain retriever over a diffsearch index, for RAG chains.

>>> from search.retriever import DiffsearchRetriever
>>> retriever = DiffsearchRetriever(index="docs", encoder="minilm", k=5)
>>> docs = retriever.invoke("how does masked diffusion generate text?")

It goes through :class:`search.service.SearchService`, like the CLI and the web UI.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from search.filters import Filters, filters_from_mapping
from search.service import SearchResult, SearchService


class DiffsearchRetriever(BaseRetriever):
    """Retrieve chunks (or best chunks per document) from a diffsearch index.

    Attributes:
        index: Index name.
        encoder: One of the index's encoders.
        k: Number of documents to return.
        level: ``chunk`` (default; RAG wants passages) or ``doc`` (best chunk per document).
        store: An open ``search.store.Store``, a path of an embedded store folder, or ``None``
            for the default store (``DIFFSEARCH_STORE`` / ``DIFFSEARCH_QDRANT_URL``).
        filter: ``Filters`` or a mapping like ``{"source": "*.pdf", "page": "1..3"}``.
        instruction: Query instruction (default: the encoder's own).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: str
    encoder: str
    k: int = 5
    level: str = "chunk"
    store: Any = None
    filter: Any = None
    instruction: str | None = None

    _service: SearchService | None = PrivateAttr(default=None)

    def _get_service(self) -> SearchService:
        if self._service is None:
            from search.store import open_store

            store = self.store
            if store is None or isinstance(store, (str, Path)):
                store = open_store(path=store)
            self._service = SearchService(store)
        return self._service

    def _filters(self) -> Filters | None:
        if self.filter is None or isinstance(self.filter, Filters):
            return self.filter
        if isinstance(self.filter, dict):
            return filters_from_mapping(self.filter)
        return self.filter  # a store-level Where

    def _search(self, query: str) -> list[Document]:
        result = self._get_service().search(
            query,
            index=self.index,
            encoder=self.encoder,
            k=self.k,
            level=self.level,
            instruction=self.instruction,
            where=self._filters(),
        )
        return to_documents(result)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self._search(query)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        # Embedding is CPU/GPU-bound work in torch; run it off the event loop.
        return await asyncio.to_thread(self._search, query)


def to_documents(result: SearchResult) -> list[Document]:
    """LangChain documents whose metadata carry source, page, chunk, score and encoder."""
    docs = []
    for ranked in result.hits:
        hit = ranked.hit
        docs.append(
            Document(
                page_content=hit.text,
                id=hit.id,
                metadata={
                    "source": hit.source,
                    "doc_id": hit.doc_id,
                    "title": hit.title,
                    "page": hit.page,
                    "section": hit.section,
                    "chunk": hit.chunk,
                    "filetype": hit.filetype,
                    "score": hit.score,
                    "rank": ranked.rank,
                    "encoder": result.encoder.get("name"),
                    "index": result.index,
                },
            )
        )
    return docs
