"""Curated lists -> a searchable archive: the paper model (``model``), one parser per input
shape and fetching (``sources``), the deduplicated catalog with its lookups (``catalog``), the
query language (``query``), the search index it searches with (``search``, on Tantivy) and the
archive that keeps it in sync with its sources (``archive``), with parsed sources kept by
content hash (``sources.parsecache``); arXiv metadata for its papers (``arxiv``), BibTeX
(``bibtex``) and what people follow with the matching of a week against it (``follows``). May
import ``bot.core`` only."""
