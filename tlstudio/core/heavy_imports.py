"""Heavy optional libraries, imported once and on one thread at a time.

``transformers`` resolves its public names lazily (a ``_LazyModule``): when two
threads import it at once (the app's model load and its token-length count),
one of them can see the half-initialised module and fail with "cannot import
name 'AutoConfig' from 'transformers'". Every use of ``transformers`` in the
engine goes through ``transformers_api()``, which imports the library and
resolves the names the engine uses under one lock; after the first call it is a
dictionary lookup. ``preload_transformers`` lets the GUI's start-up splash do
that first import on the main thread before any worker exists.
"""
from __future__ import annotations

import threading
from types import SimpleNamespace

_LOCK = threading.RLock()
_API: SimpleNamespace | None = None


def transformers_api() -> SimpleNamespace:
    """``AutoConfig``, ``AutoModel``, ``AutoTokenizer``, ``hf_logging`` and the ``transformers`` and
    ``tokenizers`` modules, imported (once) under the one import lock."""
    global _API
    api = _API
    if api is not None:
        return api
    with _LOCK:
        if _API is None:
            import tokenizers
            import transformers
            from transformers import AutoConfig, AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            _API = SimpleNamespace(transformers=transformers, tokenizers=tokenizers, AutoConfig=AutoConfig,
                                   AutoModel=AutoModel, AutoTokenizer=AutoTokenizer, hf_logging=hf_logging)
        return _API


def preload_transformers() -> None:
    """Import ``transformers`` now (start-up), so no worker thread imports it later."""
    transformers_api()
