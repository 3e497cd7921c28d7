"""SB3 policies for agents that choose among the LM's proposals (``obs_mode="proposals"``).

With ``action_mode="topk"`` action i plays the LM's i-th most likely next token. An MLP on
the context's hidden state alone cannot tell which token that is (the ranking is a sort of
the whole vocabulary's logits), so it cannot learn "play the positive word": on
TextSentiment-v0 such a PPO agent stayed at the zero-shot level after 16k steps. The
``proposals`` observation shows each proposal's token embedding and log-probability, and
:class:`ProposalPolicy` scores every proposal with one shared function, as DRRN scores the
actions of text games (He et al., 2016, https://arxiv.org/abs/1511.04636)::

    logit_i = score(e_i [, context, log p_i, f_i]) + u . f_i + alpha * log p_i

``e_i`` is the i-th proposal's token embedding (RMS-normalised), ``log p_i`` its
log-probability under the LM, ``f_i = (in_context_i, in_turn_i)`` says whether its token
occurs in the context before the turn (a copy from the document, source or user message)
or earlier in the turn (a repeat), and ``alpha`` is a learned scale that starts at 1 with
``score`` and ``u`` starting at 0, so the untrained policy is the LM's own distribution
over its top k and training learns which tokens to prefer over it. ``score`` is linear in
``e_i`` by default (``scorer_hidden=0``: a learned token preference, 576 weights for
SmolLM2, which learns fastest) or an MLP over ``[e_i, context, log p_i, f_i]``
(``scorer_hidden > 0``: preferences that depend on the context). ``u`` learns how much to
copy and how much to avoid repeats: what a summary or a reply to a message needs and a
token preference alone cannot express. ``token_preference=False`` leaves ``e_i`` out: the
linear scorer is then ``u . f_i + alpha * log p_i``, three weights (on
TextSummarization-v0 the 576 token-preference weights, moving ~200x faster under Adam than
``u``, learned preferences that did not carry over to held-out documents, while the copy
weight alone raised held-out ROUGE-L). The critic is an MLP on the context vector.

    PPO(ProposalPolicy, env)  # env: obs_mode="proposals", action_mode="topk"
    MaskablePPO(MaskableProposalPolicy, env)
"""

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

# The per-proposal scalars of the observation, in the order the extractor stacks them.
PER_PROPOSAL_KEYS = ("proposal_logprobs", "proposal_in_context", "proposal_in_turn")
N_FLAGS = len(PER_PROPOSAL_KEYS) - 1


def _rms_normalize(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class ProposalsExtractor(BaseFeaturesExtractor):
    """The ``proposals`` observation as one flat tensor ``[context (c), proposals (k*d),
    log-probs (k), in-context (k), in-turn (k)]``, the vectors RMS-normalised (SB3 passes
    features between modules as one tensor; :class:`ProposalScorer` splits it again)."""

    def __init__(self, observation_space: gym.spaces.Dict) -> None:
        context, proposals = (
            observation_space["context"].shape,
            observation_space["proposals"].shape,
        )
        assert context is not None and proposals is not None  # Box spaces
        self.c = context[0]
        self.k, self.d = proposals
        super().__init__(observation_space, self.c + (self.d + len(PER_PROPOSAL_KEYS)) * self.k)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        context = _rms_normalize(obs["context"])  # (B, c)
        proposals = _rms_normalize(obs["proposals"]).flatten(1)  # (B, k*d)
        per_proposal = [obs[key] for key in PER_PROPOSAL_KEYS]  # each (B, k)
        return torch.cat([context, proposals, *per_proposal], dim=1)


class ProposalScorer(nn.Module):
    """SB3's ``mlp_extractor`` for :class:`ProposalPolicy`: the actor's latent is the k
    proposal logits themselves, the critic's an MLP of the context."""

    def __init__(
        self,
        c: int,
        k: int,
        d: int,
        scorer_hidden: int,
        value_hidden: int,
        token_preference: bool = True,
    ) -> None:
        super().__init__()
        self.c, self.k, self.d = c, k, d
        self.token_preference = token_preference
        self.score: nn.Sequential | None = None
        if scorer_hidden > 0:
            self.score = nn.Sequential(
                nn.Linear(d * token_preference + c + 1 + N_FLAGS, scorer_hidden),
                nn.Tanh(),
                nn.Linear(scorer_hidden, scorer_hidden),
                nn.Tanh(),
                nn.Linear(scorer_hidden, 1),
            )
        elif token_preference:
            self.score = nn.Sequential(nn.Linear(d, 1))
        self.contextual = scorer_hidden > 0
        self.flag_weights = nn.Parameter(torch.zeros(N_FLAGS))  # u: copy, repeat
        self.alpha = nn.Parameter(torch.ones(()))
        self.value = nn.Sequential(
            nn.Linear(c, value_hidden), nn.Tanh(), nn.Linear(value_hidden, value_hidden), nn.Tanh()
        )
        self.latent_dim_pi, self.latent_dim_vf = k, value_hidden

    def _split(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c, k, d = self.c, self.k, self.d
        context = features[:, :c]  # (B, c)
        proposals = features[:, c : c + k * d].reshape(-1, k, d)  # (B, k, d)
        logprobs = features[:, c + k * d : c + k * d + k]  # (B, k)
        flags = features[:, c + k * d + k :].reshape(-1, N_FLAGS, k).transpose(1, 2)  # (B, k, 2)
        return context, proposals, logprobs, flags

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        context, proposals, logprobs, flags = self._split(features)
        scores = flags @ self.flag_weights + self.alpha * logprobs  # (B, k)
        if self.score is None:
            return scores
        inputs = [proposals] if self.token_preference else []
        if self.contextual:
            context = context[:, None, :].expand(-1, self.k, -1)  # (B, k, c)
            inputs += [context, logprobs[..., None], flags]
        return scores + self.score(torch.cat(inputs, dim=-1)).squeeze(-1)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value(features[:, : self.c])

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


# The mixin adds to an SB3 actor-critic policy; the type checker sees it as one.
if TYPE_CHECKING:
    _PolicyBase = ActorCriticPolicy
else:
    _PolicyBase = object


class _ProposalPolicyMixin(_PolicyBase):
    """What :class:`ProposalPolicy` and :class:`MaskableProposalPolicy` add to their SB3
    base: the proposals extractor, the scorer, and logits taken from the scorer as they are.

    Args:
        scorer_hidden: 0 for a linear token preference, else the width of the scoring MLP.
        value_hidden: width of the critic's two hidden layers.
        token_preference: whether the scorer sees the proposals' token embeddings.
    """

    def __init__(
        self,
        *args: Any,
        scorer_hidden: int = 0,
        value_hidden: int = 64,
        token_preference: bool = True,
        **kwargs: Any,
    ) -> None:
        self.scorer_hidden, self.value_hidden = scorer_hidden, value_hidden
        self.token_preference = token_preference
        kwargs.setdefault("features_extractor_class", ProposalsExtractor)
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        extractor = self.features_extractor
        assert isinstance(extractor, ProposalsExtractor)
        # SB3 types mlp_extractor as its MlpExtractor, though its docs (custom policy) assign
        # any module with latent_dim_pi / latent_dim_vf and forward_actor / forward_critic.
        self.mlp_extractor = ProposalScorer(  # type: ignore[assignment]
            extractor.c,
            extractor.k,
            extractor.d,
            self.scorer_hidden,
            self.value_hidden,
            self.token_preference,
        )

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        # The scorer's outputs are the logits: no extra linear layer over them. Its last
        # layer starts near 0, so the initial policy is the LM's (alpha = 1).
        self.action_net = nn.Identity()
        scorer = self.mlp_extractor
        assert isinstance(scorer, ProposalScorer)
        if isinstance(scorer.score, nn.Sequential):
            last = scorer.score[-1]
            assert isinstance(last, nn.Linear)
            nn.init.orthogonal_(last.weight, gain=0.01)
            nn.init.zeros_(last.bias)
        # SB3 types optimizer_class as type[Optimizer], whose __init__ takes no lr.
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            scorer_hidden=self.scorer_hidden,
            value_hidden=self.value_hidden,
            token_preference=self.token_preference,
        )
        return data


class ProposalPolicy(_ProposalPolicyMixin, ActorCriticPolicy):
    """PPO/A2C policy over the ``proposals`` observation (see the module docstring)."""


try:
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

    HAS_SB3_CONTRIB = True
except ImportError:  # pragma: no cover - sb3-contrib is optional
    HAS_SB3_CONTRIB = False

if HAS_SB3_CONTRIB:
    # For the type checker the mixin is an ActorCriticPolicy, which MaskableActorCriticPolicy
    # overrides with masked methods: that is the point, so the "incompatible" bases are meant.
    class MaskableProposalPolicy(_ProposalPolicyMixin, MaskableActorCriticPolicy):  # type: ignore[misc]
        """MaskablePPO's policy over the ``proposals`` observation: invalid proposals get
        probability 0, the others are scored as in :class:`ProposalPolicy`."""
