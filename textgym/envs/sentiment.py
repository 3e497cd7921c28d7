"""TextSentiment-v0: continue a prompt toward a target sentiment."""

from typing import Any

from textgym.core import TextEnv
from textgym.rewards import VaderSentiment


class TextSentimentEnv(TextEnv):
    """
    ## Description
    The agent continues the opening of a review or a story (e.g. "I ordered the blue
    kettle on a Tuesday, and when it finally arrived the first thing I noticed was") and
    is rewarded for the sentiment of its continuation toward a target polarity. The
    openings are neutral, so the continuation decides the sentiment.

    ## Action Space
    `Discrete(vocab_size)`: the next token id (49,152 for the default model). An
    end-of-turn token (`<|endoftext|>` or `<|im_end|>` for SmolLM2) ends the episode.
    `action_mode="topk"`: `Discrete(topk)`, pick among the LM's `topk` most likely next
    tokens (`info["proposal_ids"]`, `info["proposal_texts"]`; `action_masks()` marks the
    valid ones). `action_mode="utterance"`: one step is a whole turn,
    `MultiDiscrete([vocab_size] * max_new_tokens)` of token ids (ids after the first
    end-of-turn token are ignored), or a string.

    ## Observation Space
    `obs_mode="tokens"` (default): `Dict(input_ids=Box(int64, (max_obs_tokens,)),
    attention_mask=Box(int64, (max_obs_tokens,)))`, left-padded: the last position always
    holds the newest token; a longer context keeps its most recent `max_obs_tokens` tokens.
    `obs_mode="text"`: the context as a `Text` string (the last `max_obs_chars`
    characters). The prompt is the plain opening text, without chat markup.
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
    At the end of the episode: the VADER compound score of the continuation (the generated
    text only, not the prompt), in [-1, 1], negated for `target="negative"`. 0 on every
    other step. `info["reward_components"]` holds `compound`.

    ## Starting State
    An opening drawn from a seeded shuffle of the dataset (213 original openings in the
    `train` split, 21 in `test`).

    ## Episode End
    Terminated when the agent emits an end-of-turn token; truncated after `max_new_tokens`
    tokens (the reward is still given). The registration's `max_episode_steps=512` is a
    safety cap.

    ## Arguments
    `target="positive"` or `"negative"`; `max_new_tokens=24`; `max_obs_tokens=128`;
    and the common arguments of every textgym environment: `model`, `obs_mode`,
    `action_mode`, `topk`, `topk_temperature`, `topk_top_p`, `embedding_model`, `reward_shaping` (`"terminal"` or `"dense"`), `kl_coef`, `dataset` (`"openings"`, a JSONL path or a list of examples), `split`
    (`"train"`, `"test"`, `"all"`), `render_mode` (`"ansi"`, `"human"`), `max_obs_chars`,
    `max_prompt_tokens`, `prompt_overflow`, `device`, `dtype`.

    ## Version History
    - v0: initial version.
    """

    task = "sentiment"
    chat = False
    default_max_new_tokens = 24
    default_max_obs_tokens = 128

    def __init__(self, target: str = "positive", **kwargs: Any) -> None:
        self.target = target
        super().__init__(**kwargs)

    def _make_reward(self) -> VaderSentiment:
        return VaderSentiment(self.target)

    def _score_turn(self, text: str) -> dict[str, float]:
        return self.reward_fn.detailed([text])[0]
