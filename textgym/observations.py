"""Observation modes: what the agent sees of the context.

- ``tokens``: ``Dict(input_ids, attention_mask)``, left-padded (newest token last);
- ``text``: a ``Text`` string, the decoded context (its last ``max_obs_chars`` characters);
- ``embedding``: a float vector, the LM's last hidden state at the newest token
  (``embedding_model="lm"``) or a MiniLM sentence embedding of the context (``"minilm"``);
- ``proposals``: that vector plus the token embeddings, LM log-probabilities and copy /
  repeat flags of the LM's top-k next tokens, so that an agent choosing among them can see
  what they are.

A mode is chosen once, at construction (:func:`make_observation_mode`); it says which LM
state the environment must keep up to date (``needs_hidden``, ``needs_logits``), whether the
context's text must be decoded (``decodes_text``) and whether it embeds the context text
with MiniLM (``encodes_text``: the vector env batches that encode across rows).
"""

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from gymnasium import spaces

from textgym.context import Context, Turn
from textgym.lm import LM
from textgym.proposals import Proposals
from textgym.spaces import sanitize, text_space

if TYPE_CHECKING:
    import torch

OBS_MODES = ("tokens", "text", "embedding", "proposals")
EMBEDDING_MODELS = ("lm", "minilm")
MINILM_DIM = 384


class EpisodeView(Protocol):
    """What an observation reads of the environment (``TextEnv`` provides it)."""

    context: Context
    turn: Turn

    @property
    def lm_hidden(self) -> "torch.Tensor | None": ...

    def embedding_text(self) -> str: ...


class ObservationMode:
    """Base class: the observation space and how an observation is made."""

    name: str = ""
    space: spaces.Space
    needs_hidden = False
    needs_logits = False
    decodes_text = False
    encodes_text = False

    def observe(self, view: EpisodeView, embedding: "torch.Tensor | None" = None) -> Any:
        raise NotImplementedError


class TokensObservation(ObservationMode):
    name = "tokens"

    def __init__(self, lm: LM, max_obs_tokens: int) -> None:
        ids = spaces.Box(0, lm.vocab_size - 1, (max_obs_tokens,), np.int64)
        mask = spaces.Box(0, 1, (max_obs_tokens,), np.int64)
        self.space = spaces.Dict({"input_ids": ids, "attention_mask": mask})

    def observe(self, view: EpisodeView, embedding: "torch.Tensor | None" = None) -> Any:
        return view.context.window()


class TextObservation(ObservationMode):
    name = "text"
    decodes_text = True

    def __init__(self, max_obs_chars: int) -> None:
        self.max_chars = max_obs_chars
        self.space = text_space(max_obs_chars)

    def observe(self, view: EpisodeView, embedding: "torch.Tensor | None" = None) -> str:
        # Keep the end of the context: the newest text is what the agent acts on.
        return sanitize(view.context.text[-self.max_chars :])


class EmbeddingObservation(ObservationMode):
    """The LM's last hidden state (``source="lm"``, kept up to date with a KV cache) or a
    MiniLM embedding of the context text without markup (``source="minilm"``)."""

    name = "embedding"

    def __init__(self, lm: LM, source: str) -> None:
        self.source = source
        self.needs_hidden = source == "lm"
        self.encodes_text = source == "minilm"
        dim = lm.hidden_size if source == "lm" else MINILM_DIM
        self.space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)

    def context_vector(
        self, view: EpisodeView, embedding: "torch.Tensor | None" = None
    ) -> np.ndarray:
        if embedding is None:
            embedding = view.lm_hidden if self.source == "lm" else minilm_embedding(view)
        assert embedding is not None, "the LM state was not synced before observing"
        return np.asarray(embedding.float().cpu(), dtype=np.float32)

    def observe(self, view: EpisodeView, embedding: "torch.Tensor | None" = None) -> Any:
        return self.context_vector(view, embedding)


class ProposalsObservation(EmbeddingObservation):
    """The embedding plus, for each of the LM's top-k next tokens (best first): its input
    token embedding, its LM log-probability (temperature 1), and 1.0 where its token occurs
    in the context before the agent's turn (a copy) or in the turn (a repeat)."""

    name = "proposals"
    needs_logits = True

    def __init__(self, lm: LM, source: str, proposals: Proposals) -> None:
        super().__init__(lm, source)
        self.lm, self.proposals = lm, proposals
        k, d = proposals.k, lm.hidden_size
        self.space = spaces.Dict(
            {
                "context": self.space,
                "proposals": spaces.Box(-np.inf, np.inf, (k, d), np.float32),
                "proposal_logprobs": spaces.Box(-np.inf, 0.0, (k,), np.float32),
                "proposal_in_context": spaces.Box(0.0, 1.0, (k,), np.float32),
                "proposal_in_turn": spaces.Box(0.0, 1.0, (k,), np.float32),
            }
        )

    def observe(self, view: EpisodeView, embedding: "torch.Tensor | None" = None) -> Any:
        import torch

        proposals = self.proposals
        ids = torch.as_tensor(proposals.ids, device=self.lm.device)
        table = self.lm.model.get_input_embeddings().weight
        assert isinstance(table, torch.Tensor)
        with torch.inference_mode():
            vectors = table[ids].float().cpu().numpy()  # (k, d)
        # Copy and repetition features: does proposal i occur in the context before this
        # turn (the document, the source sentence, the user's message), or in the turn?
        before = view.context.ids(0, len(view.context) - len(view.turn))
        return {
            "context": self.context_vector(view, embedding),
            "proposals": vectors,
            "proposal_logprobs": proposals.logprobs.copy(),
            "proposal_in_context": np.isin(proposals.ids, before).astype(np.float32),
            "proposal_in_turn": np.isin(proposals.ids, view.turn.tokens).astype(np.float32),
        }


def minilm_embedding(view: EpisodeView) -> "torch.Tensor":
    from textgym.encoders import MiniLMEncoder

    return MiniLMEncoder.shared().encode([view.embedding_text()])[0]


def make_observation_mode(
    obs_mode: str,
    lm: LM,
    max_obs_tokens: int,
    max_obs_chars: int,
    embedding_model: str,
    proposals: Proposals | None,
) -> ObservationMode:
    if obs_mode == "tokens":
        return TokensObservation(lm, max_obs_tokens)
    if obs_mode == "text":
        return TextObservation(max_obs_chars)
    if obs_mode == "embedding":
        return EmbeddingObservation(lm, embedding_model)
    assert proposals is not None
    return ProposalsObservation(lm, embedding_model, proposals)


__all__ = [
    "EMBEDDING_MODELS",
    "OBS_MODES",
    "EmbeddingObservation",
    "EpisodeView",
    "ObservationMode",
    "ProposalsObservation",
    "TextObservation",
    "TokensObservation",
    "make_observation_mode",
]
