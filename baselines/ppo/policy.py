"""The policy (a causal LM with a value head) and the frozen reference LM.

Layout of a rollout batch, used throughout: ``input_ids`` (B, P + R) is a left-padded
prompt of width P followed by a right-padded response of width R, with ``attention_mask``
marking the real tokens. Every row's response then starts at column P, so the logits
and values that score it are the slice ``[:, P - 1 : -1]`` of one forward (position t
predicts token t + 1).
"""

import copy
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from textgym.lm import LM


def position_ids(attention_mask: Tensor) -> Tensor:
    """(B, T) positions counted over real tokens only, so a left-padded prompt starts at
    position 0 (Hugging Face models count padding otherwise); as ``LM.generate``."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def head_logits(head: nn.Linear, hidden: Tensor) -> Tensor:
    """``head(hidden)`` (..., V) for a linear LM head, computed with the vocabulary padded
    to a multiple of 64 and sliced back. A row width such as GPT-2's 50257 leaves cuBLAS
    no aligned kernel: on an H100 its LM-head matmuls ran at ~95 TFLOP/s, a third of the
    update's time. Zero rows, so the V logits are exactly the head's."""
    weight: Tensor = head.weight
    bias: Tensor | None = head.bias
    pad = -weight.shape[0] % 64
    if pad == 0:
        return nn.functional.linear(hidden, weight, bias)
    weight = nn.functional.pad(weight, (0, 0, 0, pad))
    bias = None if bias is None else nn.functional.pad(bias, (0, pad))
    return nn.functional.linear(hidden, weight, bias)[..., : head.weight.shape[0]]


def logits_are_head_of_trunk(model: "PreTrainedModel", ids: Tensor, mask: Tensor) -> bool:
    """Whether ``model``'s logits are ``lm_head(base_model(...).last_hidden_state)``, on
    the first two rows of ``ids``/``mask`` (models that post-process logits, e.g.
    soft-capping, are not), to a tolerance of the model's dtype: what lets the policy and
    the generator skip the head where no logit is needed."""
    head = model.get_output_embeddings()
    if not isinstance(head, nn.Linear):
        return False
    ids, mask = ids[:2], mask[:2]
    tol = 1e-4 if head.weight.dtype == torch.float32 else 2e-2
    kwargs = dict(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask))
    with torch.no_grad(), torch.autocast(ids.device.type, enabled=False):
        full = model(**kwargs, use_cache=False).logits.float()
        split = head_logits(head, model.base_model(**kwargs, use_cache=False).last_hidden_state)
    return bool(torch.allclose(full, split.float(), atol=tol, rtol=tol))


def logprobs_of(logits: Tensor, tokens: Tensor) -> Tensor:
    """(B, T) log-probabilities of ``tokens`` (B, T) under ``logits`` (B, T, V), in float32.

    Computed as ``logit - logsumexp`` so that no second (B, T, V) tensor is made.
    """
    logits = logits.float()
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return picked - torch.logsumexp(logits, dim=-1)


class PolicyWithValue(nn.Module):
    """A causal LM with a scalar value head on its last hidden state.

    The value head shares the LM's trunk (one network, two heads), as in Ziegler et al.
    2019 and TRL's ``AutoModelForCausalLMWithValueHead``: one forward gives both the
    next-token log-probs and V(s) of every prefix, where a separate critic LM would double
    the memory and the compute of every rollout and update. The price is that the value
    loss also shapes the trunk; ``vf_coef`` keeps it small.

    Build it with :meth:`from_lm`, which deep-copies the environment's LM: the env's LM
    stays untouched and serves as the frozen reference.

    Dropout is switched off in the LM (its probabilities set to 0): PPO's importance
    ratios compare the same network on the same tokens, which random masks would break
    (the first minibatch's ratios would not be 1), as TRL's PPO trainer also does.

    Where the LM's logits are its head applied to its trunk's last hidden state (checked
    once, on the first forward), :meth:`evaluate` runs the head only at the response
    positions (the prompt's logits are never used) through :func:`head_logits`.
    """

    def __init__(self, lm_model: "PreTrainedModel") -> None:
        super().__init__()
        self.lm = lm_model
        for module in lm_model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
        for name in ("attention_dropout", "attn_pdrop", "resid_pdrop", "embd_pdrop", "dropout"):
            if isinstance(getattr(lm_model.config, name, None), float):
                setattr(lm_model.config, name, 0.0)  # functional dropout reads the config
        self._split_head: bool | None = None
        hidden = int(lm_model.config.hidden_size)
        # Float32 whatever the trunk's dtype: the value's scale (returns) is unlike a
        # hidden state's, and bf16 would round small advantages away.
        self.value_head = nn.Linear(hidden, 1, dtype=torch.float32)
        # V = 0 to start: no arbitrary value noise in the first advantages; the weights
        # still get gradients (dL/dw = dL/dV * h).
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)
        self.value_head.to(next(lm_model.parameters()).device)

    @classmethod
    def from_lm(cls, lm: "LM") -> "PolicyWithValue":
        """A trainable copy of ``lm.model`` (a :class:`textgym.lm.LM`) with a value head."""
        model = copy.deepcopy(lm.model)
        model.requires_grad_(True)
        model.train()
        return cls(model)

    def split_head(self, input_ids: Tensor, attention_mask: Tensor) -> bool:
        """Whether the trunk + :func:`head_logits` path gives the LM's logits (decided on
        the first call, on two rows of its input)."""
        if self._split_head is None:
            self._split_head = logits_are_head_of_trunk(self.lm, input_ids, attention_mask)
        return self._split_head

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits, values)``: (B, T, V) next-token logits and (B, T) values, position t
        scoring the context up to and including token t."""
        out = self.lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids(attention_mask),
            output_hidden_states=True,
            use_cache=False,
        )
        hidden = out.hidden_states[-1]  # (B, T, C), after the final norm
        values = self.value_head(hidden.float()).squeeze(-1)  # (B, T)
        return out.logits, values

    def value_of(self, hidden: Tensor) -> Tensor:
        """Values (...,) of last-layer hidden states (..., C), e.g. recorded in generation."""
        return self.value_head(hidden.float()).squeeze(-1)

    def evaluate(
        self, input_ids: Tensor, attention_mask: Tensor, prompt_width: int
    ) -> tuple[Tensor, Tensor]:
        """``(logprobs, values)`` of the response tokens, both (B, R): the log-prob of
        response token j and the value of the context before it."""
        response = input_ids[:, prompt_width:]  # (B, R)
        if not self.split_head(input_ids, attention_mask):
            logits, values = self(input_ids, attention_mask)
            logits = logits[:, prompt_width - 1 : -1]  # (B, R, V)
            return logprobs_of(logits, response), values[:, prompt_width - 1 : -1]
        hidden = self.lm.base_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids(attention_mask),
            use_cache=False,
        ).last_hidden_state[:, prompt_width - 1 : -1]  # (B, R, C): the states that score it
        logits = head_logits(self.lm.get_output_embeddings(), hidden)
        return logprobs_of(logits, response), self.value_of(hidden)


@torch.no_grad()
def reference_logprobs(
    reference: "PreTrainedModel", input_ids: Tensor, attention_mask: Tensor, prompt_width: int
) -> Tensor:
    """(B, R) log-probs of the response tokens under the frozen reference LM (the
    environment's own ``lm.model``); no gradients, the reference is never trained."""
    out = reference(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids(attention_mask),
        use_cache=False,
    )
    logits = out.logits[:, prompt_width - 1 : -1]  # (B, R, V)
    return logprobs_of(logits, input_ids[:, prompt_width:])
