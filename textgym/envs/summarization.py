"""TextSummarization-v0: summarise a document in one sentence."""

from typing import Any

from textgym.core import TextEnv
from textgym.rewards import RougeL


class TextSummarizationEnv(TextEnv):
    """
    ## Description
    The agent summarises a document in one sentence, one token at a time. The prompt asks
    for a one-sentence summary through the model's chat template.

    ## Action Space
    `Discrete(vocab_size)`: the next token id. An end-of-turn token ends the episode.
    `action_mode="topk"`: `Discrete(topk)`, pick among the LM's `topk` most likely next
    tokens (`info["proposal_ids"]`, `info["proposal_texts"]`; `action_masks()` marks the
    valid ones). `action_mode="utterance"`: one step is a whole turn,
    `MultiDiscrete([vocab_size] * max_new_tokens)` of token ids (ids after the first
    end-of-turn token are ignored), or a string.

    ## Observation Space
    `obs_mode="tokens"` (default): `Dict(input_ids, attention_mask)` of `Box(int64,
    (max_obs_tokens,))` with `max_obs_tokens=512`, left-padded (newest token last).
    `obs_mode="text"`: the context as a `Text` string.
    `obs_mode="embedding"`: `Box(float32, (hidden_size,))`, the LM's last hidden state at
    the newest token (576 for SmolLM2), updated with a KV cache;
    `embedding_model="minilm"` gives a 384-d MiniLM sentence embedding of the context.
    `obs_mode="proposals"`: `Dict(context=<the embedding above>, proposals=Box(float32,
    (topk, hidden_size)), proposal_logprobs=Box(float32, (topk,)),
    proposal_in_context=Box(float32, (topk,)), proposal_in_turn=Box(float32, (topk,)))`:
    also the token embeddings and LM log-probabilities of the LM's `topk` most likely next
    tokens (the `topk` action mode's choices, best first), and 1.0 where a proposal's token
    occurs in the context before the turn (a copy) or earlier in the turn (a repeat).

    ## Rewards
    At the end of the episode: ROUGE-L F1 (rouge-score) of the summary against the
    reference, minus `length_penalty * |words(summary) - words(reference)| / words(reference)`
    (`length_penalty=0` by default, so the reward is ROUGE-L F1 in [0, 1]).
    `info["reward_components"]` holds `rougeL_f`, `length_ratio` and `length_penalty`.

    ## Starting State
    A document drawn from a seeded shuffle of the dataset: `"original"` (default; 127
    document/summary pairs written for textgym: 110 `train`, 17 `test`), `"stdlib"`
    (docstring body -> first-line summary pairs harvested from the installed Python
    standard library) or `"original+stdlib"`. A document longer than `max_prompt_tokens`
    loses its end (replaced by " ..."); `prompt_overflow="error"` raises instead.

    ## Episode End
    Terminated on an end-of-turn token; truncated after `max_new_tokens` tokens (the
    reward is still given). `max_episode_steps=512` in the registration is a safety cap.

    ## Arguments
    `length_penalty=0.0`; `use_stemmer=False`; `max_new_tokens=48`; and the common
    arguments (`model`, `obs_mode`, `action_mode`, `topk`, `topk_temperature`, `topk_top_p`, `embedding_model`, `reward_shaping` (`"terminal"` or `"dense"`), `kl_coef`, `dataset`, `split`, `render_mode`,
    `max_obs_tokens=512`, `max_obs_chars`, `max_prompt_tokens`, `prompt_overflow`,
    `device`, `dtype`).

    ## Version History
    - v0: initial version.
    """

    task = "summarization"
    requires_references = True
    default_max_new_tokens = 48
    default_max_obs_tokens = 512

    def __init__(self, length_penalty: float = 0.0, use_stemmer: bool = False, **kwargs: Any):
        self.length_penalty, self.use_stemmer = length_penalty, use_stemmer
        super().__init__(**kwargs)

    def _make_reward(self) -> RougeL:
        return RougeL(length_penalty=self.length_penalty, use_stemmer=self.use_stemmer)

    def _prompt_messages(self, content: str) -> list[dict[str, str]]:
        return [
            {
                "role": "user",
                "content": f"Summarise the following text in one sentence.\n\n{content}",
            }
        ]

    def _score_turn(self, text: str) -> dict[str, float]:
        assert self._example is not None
        return self.reward_fn.detailed([text], [self._example.references])[0]
