"""Qdrant store, search, side-by-side comparison, LangChain retriever and evaluation."""
