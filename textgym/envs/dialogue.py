"""TextDialogue-v0: a multi-turn conversation with an LM-simulated user."""

from typing import Any

from textgym.core import TextEnv
from textgym.partners import DEFAULT_PERSONA, make_partner
from textgym.rewards import DialogueReward

# Room for the chat markup that separates turns, per turn.
_SEPARATOR_TOKENS = 16


class TextDialogueEnv(TextEnv):
    """
    ## Description
    A conversation of `num_turns` agent turns. The user opens (an opening from the
    dataset); the agent answers token by token; when its turn ends, the simulated user
    answers: by default the environment's own LM, prompted with a persona through the chat
    template (roles swapped), so the next observation contains LM-written text. The
    agent's context is the conversation in the model's chat format.

    ## Action Space
    `Discrete(vocab_size)`: the next token id. An end-of-turn token ends the agent's turn.
    `action_mode="topk"`: `Discrete(topk)`, pick among the LM's `topk` most likely next
    tokens (`info["proposal_ids"]`, `info["proposal_texts"]`; `action_masks()` marks the
    valid ones). `action_mode="utterance"`: one step is a whole turn,
    `MultiDiscrete([vocab_size] * max_new_tokens)` of token ids (ids after the first
    end-of-turn token are ignored), or a string.

    ## Observation Space
    `obs_mode="tokens"` (default): `Dict(input_ids, attention_mask)` of `Box(int64,
    (max_obs_tokens,))` with `max_obs_tokens=512`, left-padded (newest token last); the
    partner's turn is appended to the context as tokens. `obs_mode="text"`: the context as
    a `Text` string.
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
    At the end of each agent turn: the cosine similarity (all-MiniLM-L6-v2 sentence
    embeddings) between the agent's turn and the reference reply when the data has one
    (the first turn), otherwise between the turn and the user message it answers;
    minus `repeat_penalty` (0.5) when the turn repeats an earlier agent turn (lexical F1
    >= 0.8); an empty turn scores `-empty_penalty` (-1). `similarity="lexical"` uses
    bag-of-words F1 instead of MiniLM. 0 on the steps inside a turn.

    ## Starting State
    An opening drawn from a seeded shuffle of the dataset: `"original+chatterbot"`
    (default: 124 openings with reference replies written for textgym plus the
    chatterbot-corpus English conversations), `"original"` or `"chatterbot"`.

    ## Episode End
    Terminated when the agent ends its last turn with an end-of-turn token; truncated when
    that turn runs out of its `max_new_tokens` budget. An earlier turn that runs out of
    budget just ends (the partner answers; `info["turn_truncated"]` is True).
    `max_episode_steps=2048` in the registration is a safety cap.

    ## Arguments
    `num_turns=3`; `max_new_tokens=32` (per agent turn); `partner="lm"` or `"eliza"`
    (NLTK's rule-based ELIZA: no LM call); `persona` (the partner's system prompt);
    `partner_max_new_tokens=32`, `partner_temperature=0.7`, `partner_top_p=0.9`;
    `similarity="minilm"` or `"lexical"`; `empty_penalty=1.0`, `repeat_penalty=0.5`; and
    the common arguments (`model`, `obs_mode`, `action_mode`, `topk`, `topk_temperature`, `topk_top_p`, `embedding_model`, `reward_shaping` (`"terminal"` or `"dense"`), `kl_coef`, `dataset`, `split`,
    `render_mode`, `max_obs_tokens`, `max_obs_chars`, `max_prompt_tokens`,
    `prompt_overflow`, `device`, `dtype`).

    ## Version History
    - v0: initial version.
    """

    task = "dialogue"
    default_max_new_tokens = 32
    default_max_obs_tokens = 512

    def __init__(
        self,
        num_turns: int = 3,
        partner: str = "lm",
        persona: str = DEFAULT_PERSONA,
        partner_max_new_tokens: int = 32,
        partner_temperature: float = 0.7,
        partner_top_p: float = 0.9,
        similarity: str = "minilm",
        empty_penalty: float = 1.0,
        repeat_penalty: float = 0.5,
        **kwargs: Any,
    ) -> None:
        self.partner_kind = partner
        self.partner_max_new_tokens = partner_max_new_tokens
        self._reward_options = dict(
            similarity=similarity, empty_penalty=empty_penalty, repeat_penalty=repeat_penalty
        )
        super().__init__(num_turns=num_turns, **kwargs)
        partner_options = {}
        if partner == "lm":
            partner_options = dict(
                persona=persona,
                max_new_tokens=partner_max_new_tokens,
                temperature=partner_temperature,
                top_p=partner_top_p,
            )
        self.partner = make_partner(partner, self.lm, **partner_options)
        self._after_agent, self._after_user = self.lm.chat.turn_separators()

    def _make_reward(self) -> DialogueReward:
        return DialogueReward(**self._reward_options)

    def _generation_budget(self) -> int:
        per_turn = self.max_new_tokens + self.partner_max_new_tokens + _SEPARATOR_TOKENS
        return self.num_turns * per_turn

    def _on_reset(self) -> None:
        assert self._example is not None
        self._user_turns = [self._example.prompt]

    def _score_turn(self, text: str) -> dict[str, float]:
        assert self._example is not None
        # The data's reference reply answers the opening only; later turns answer
        # LM-written messages, for which relevance to that message is the signal.
        refs = self._example.references if not self._turns else ()
        return self.reward_fn.detailed(
            [text], [refs], user_turns=[self._user_turns[-1]], histories=[list(self._turns)]
        )[0]

    def partner_request(self) -> list[int] | None:
        return self.partner.prompt_ids(self._user_turns, self._turns)

    def partner_sampling(self) -> dict[str, Any]:
        return self.partner.sampling()

    def partner_apply(self, reply_ids: list[int] | None) -> None:
        if reply_ids is None:
            reply = self.partner.reply(self._user_turns, self._turns, self.np_random)
        else:
            reply = self.lm.decode(reply_ids, skip_special_tokens=True).strip()
        reply = reply or "..."
        self._user_turns.append(reply)
        separator = self._after_agent
        # If the agent closed its turn with the template's own end token, don't repeat it.
        last = self._turn_tokens[-1]
        end_text = self.lm.decode([last])
        if last in self.lm.eos_ids and separator.startswith(end_text):
            separator = separator[len(end_text) :]
        self._append(self.lm.encode(separator + reply + self._after_user))
        super().partner_apply(reply_ids)

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        info["user_turns"] = list(self._user_turns)
        info["agent_turns"] = list(self._turns)
        return info

    def _render_text(self) -> str:
        if self._example is None:
            return super()._render_text()
        lines = [f"[{self.task}] example {self._example.id}"]
        for i, user in enumerate(self._user_turns):
            lines.append(f"user:   {user}")
            if i < len(self._turns):
                lines.append(f"agent:  {self._turns[i]}  (reward {self._turn_rewards[i]:+.3f})")
        if not self._episode_over:
            lines.append(f"agent:  {self.generation} ...")
        return "\n".join(lines)
