"""TextDialogue-v0: a multi-turn conversation with an LM-simulated user."""

from typing import Any, Unpack

from textgym.arguments import TextEnvKwargs
from textgym.core import TextEnv
from textgym.partners import DEFAULT_PERSONA, make_partner
from textgym.rewards import DialogueReward
from textgym.scoring import ScoreRequest

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
    The conversation is chat-formatted and the partner's turns are appended to the context
    as tokens; `max_obs_tokens=512`.

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
    `similarity="minilm"` or `"lexical"`; `empty_penalty=1.0`, `repeat_penalty=0.5`;
    and the common arguments below.

    ## Version History
    - v0: initial version.
    """

    task = "dialogue"
    reward_fn: DialogueReward
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
        **kwargs: Unpack[TextEnvKwargs],
    ) -> None:
        self.partner_kind = partner
        self.partner_max_new_tokens = partner_max_new_tokens
        self._similarity = similarity
        self._penalties = (empty_penalty, repeat_penalty)
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
        empty, repeat = self._penalties
        return DialogueReward(self._similarity, empty_penalty=empty, repeat_penalty=repeat)

    def _generation_budget(self) -> int:
        per_turn = self.max_new_tokens + self.partner_max_new_tokens + _SEPARATOR_TOKENS
        return self.num_turns * per_turn

    def _on_reset(self) -> None:
        assert self.episode is not None
        self._user_turns = [self.episode.example.prompt]

    def _score_inputs(self, text: str) -> ScoreRequest:
        assert self.episode is not None
        turns = self.episode.turns
        # The data's reference reply answers the opening only; later turns answer
        # LM-written messages, for which relevance to that message is the signal.
        refs = self.episode.example.references if not turns else ()
        inputs = {"user_turns": self._user_turns[-1], "histories": list(turns)}
        return ScoreRequest(text, refs, inputs, prompt=self._user_turns[-1])

    def partner_request(self) -> list[int] | None:
        assert self.episode is not None
        return self.partner.prompt_ids(self._user_turns, self.episode.turns)

    def partner_sampling(self) -> dict[str, Any]:
        return self.partner.sampling()

    def partner_apply(self, reply_ids: list[int] | None) -> None:
        if reply_ids is None:
            assert self.episode is not None
            reply = self.partner.reply(self._user_turns, self.episode.turns, self.np_random)
        else:
            reply = self.lm.decode(reply_ids, skip_special_tokens=True).strip()
        reply = reply or "..."
        self._user_turns.append(reply)
        separator = self._after_agent
        # If the agent closed its turn with the template's own end token, don't repeat it.
        last = self.turn.tokens[-1]
        end_text = self.lm.decode([last])
        if last in self.lm.eos_ids and separator.startswith(end_text):
            separator = separator[len(end_text) :]
        self.context.extend(self.lm.encode(separator + reply + self._after_user))
        super().partner_apply(reply_ids)

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        info["user_turns"] = list(self._user_turns)
        info["agent_turns"] = list(self.episode.turns) if self.episode is not None else []
        return info

    def render_text(self) -> str:
        if self.episode is None:
            return super().render_text()
        episode = self.episode
        lines = [f"[{self.task}] example {episode.example.id}"]
        for i, user in enumerate(self._user_turns):
            lines.append(f"user:   {user}")
            if i < len(episode.turns):
                reward = episode.turn_rewards[i]
                lines.append(f"agent:  {episode.turns[i]}  (reward {reward:+.3f})")
        if not episode.over:
            lines.append(f"agent:  {self.generation} ...")
        return "\n".join(lines)
