"""The documentation every textgym environment shares: its spaces and common arguments.

Written once, here. It is ``TextEnv.__init__``'s docstring, and :func:`compose` puts it into
each environment class's own documentation in Gymnasium's section order: the spaces after
the Description, the common arguments after the task's own Arguments.
"""

SPACES = """## Action Space
- `action_mode="token"` (default): `Discrete(vocab_size)` (49,152 for SmolLM2), the
  next token id. An end-of-turn token (`<|im_end|>` or `<|endoftext|>`) ends the
  agent's turn. Anything that is not one integer in range raises `InvalidAction` (a
  `ValueError`) and leaves the episode unchanged.
- `action_mode="topk"`: `Discrete(topk)`; action i plays the i-th most likely next
  token under the environment's LM (special tokens other than end-of-turn are never
  proposed). `info["proposal_ids"]`, `info["proposal_texts"]`,
  `info["proposal_probs"]` and `info["action_mask"]` describe them;
  `action_masks()` follows sb3-contrib's MaskablePPO convention. A proposal is
  invalid when the ones ranked above it already hold `topk_top_p` of the
  probability (at `topk_temperature`); choosing one plays proposal 0 and sets
  `info["invalid_action"]`.
- `action_mode="utterance"`: one step is a whole agent turn,
  `MultiDiscrete([vocab_size] * max_new_tokens)` of token ids (ids after the first
  end-of-turn token are ignored), a shorter list, or a string (its first
  `128 * max_new_tokens` characters are tokenised; lone surrogates become U+FFFD).
  An utterance within the budget is a complete turn; a longer one is cut to the
  budget (`info["utterance_truncated"]`).

## Observation Space
- `obs_mode="tokens"` (default): `Dict(input_ids=Box(int64, (max_obs_tokens,)),
  attention_mask=Box(int64, (max_obs_tokens,)))`, left-padded: the last position
  always holds the newest token; a longer context keeps its most recent tokens.
- `obs_mode="text"`: a `Text` string, the decoded context with its chat markup (its
  last `max_obs_chars` characters; the charset is the printable BMP plus emoji).
- `obs_mode="embedding"`: `Box(float32, (hidden_size,))`, the LM's last hidden
  state at the newest token (576 for SmolLM2), updated with a KV cache;
  `embedding_model="minilm"` gives a 384-d MiniLM embedding of the context text.
- `obs_mode="proposals"`: `Dict(context=<the embedding>, proposals=Box(float32,
  (topk, hidden_size)), proposal_logprobs=Box(float32, (topk,)),
  proposal_in_context=Box(float32, (topk,)), proposal_in_turn=Box(float32,
  (topk,)))`: also the token embeddings and LM log-probabilities of the LM's `topk`
  most likely next tokens (the `topk` action mode's choices, best first), and 1.0
  where a proposal's token occurs in the context before the turn (a copy) or
  earlier in the turn (a repeat).
- `info`, every step: `prompt`, `generation`, `references`, `turn`,
  `num_new_tokens`, `example_id`, `prompt_truncated`, `metric_signature`; at the end
  of a turn `reward_components`, `turn_ended`, `turn_truncated`; at the end of the
  episode `episode_return`.
"""

COMMON_ARGUMENTS = """## Common Arguments
| argument | default | meaning |
|---|---|---|
| `model` | `"smollm2-135m"` | a textgym model name (`"tiny"` for tests), a local directory or a hub id |
| `obs_mode` | `"tokens"` | `"tokens"`, `"text"`, `"embedding"` or `"proposals"` |
| `action_mode` | `"token"` | `"token"`, `"topk"` or `"utterance"` |
| `max_new_tokens` | per task | the per-turn token budget |
| `dataset`, `split` | task default, `"train"` | a dataset name, a JSONL path or a list of examples; `"train"`, `"test"` or `"all"` |
| `render_mode` | None | `"ansi"` or `"human"` |
| `max_obs_tokens`, `max_obs_chars` | per task, 8192 | the `tokens` / `text` observation lengths |
| `max_prompt_tokens`, `prompt_overflow` | context - budget (<= 2048), `"truncate"` | longer prompts lose the end of the example's text (`info["prompt_truncated"]`), or `"error"` |
| `topk`, `topk_temperature`, `topk_top_p` | 16, 1.0, 1.0 | the proposal set and its validity mask |
| `embedding_model` | `"lm"` | `"lm"` or `"minilm"` |
| `reward_shaping` | `"terminal"` | `"dense"`: each step earns the change of the task metric |
| `kl_coef` | 0.0 | per-token KL penalty to the frozen LM (`token` and `topk` actions) |
| `info_mode` | `"full"` | `"numeric"`: the same numeric keys on every step (TorchRL, Tianshou); texts via `env.unwrapped.text_info()` |
| `device`, `dtype` | `"cpu"`, float32 | `"cuda"` / `"auto"`; bfloat16 by default on CUDA |
"""

COMMON_DOC = SPACES + "\n" + COMMON_ARGUMENTS


def compose(own: str) -> str:
    """An environment's documentation: its own sections (Description, Rewards, Starting
    State, Episode End, Arguments, Version History) with the shared ones put in."""
    import inspect

    doc = inspect.cleandoc(own)
    doc = doc.replace("## Rewards", SPACES + "\n## Rewards", 1)
    return doc.replace("## Version History", COMMON_ARGUMENTS + "\n## Version History", 1)
