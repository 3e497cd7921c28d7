"""Simulated dialogue partners: who answers the agent in ``TextDialogue-v0``.

A partner sees the conversation from its own side (its earlier messages, the agent's
replies). An LM partner gives the prompt for its reply (``prompt_ids``) and the sampling
settings; the environment generates, batched across a vector env, from its seeded torch
generator. A partner without LM returns ``None`` there and writes its reply itself
(``reply``) from the environment's seeded numpy generator.
"""

from typing import Any

DEFAULT_PERSONA = (
    "You are a person chatting with an assistant. Reply to the assistant's last message "
    "in one or two short sentences, as a curious, friendly person would: react to what it "
    "said and ask a follow-up question or add a detail about yourself."
)


class LMPartner:
    """The environment's LM plays the user, through the chat template, with a persona as
    the system message (roles swapped: the agent is the "user" from its side)."""

    def __init__(
        self,
        lm: Any,
        persona: str = DEFAULT_PERSONA,
        max_new_tokens: int = 32,
        temperature: float = 0.7,
        top_p: float = 0.9,
    ) -> None:
        self.lm, self.persona = lm, persona
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p

    def messages(self, user_turns: list[str], agent_turns: list[str]) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.persona}]
        for i, own in enumerate(user_turns):
            messages.append({"role": "assistant", "content": own})
            if i < len(agent_turns):
                messages.append({"role": "user", "content": agent_turns[i]})
        return messages

    def prompt_ids(self, user_turns: list[str], agent_turns: list[str]) -> list[int]:
        """The partner's context; the environment (or vector env, batched) generates."""
        return self.lm.encode(self.lm.chat.render(self.messages(user_turns, agent_turns)))

    def sampling(self) -> dict[str, Any]:
        """``LM.generate`` arguments for the reply."""
        return dict(
            max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p
        )


class ElizaPartner:
    """NLTK's rule-based ELIZA: no LM call, so it is fast; responses are chosen with the
    environment's seeded numpy generator instead of the global ``random``."""

    def __init__(self) -> None:
        from nltk.chat.eliza import pairs
        from nltk.chat.util import Chat, reflections

        self._chat = Chat(pairs, reflections)

    def prompt_ids(self, user_turns: list[str], agent_turns: list[str]) -> None:
        return None  # no LM call: see reply()

    def sampling(self) -> dict[str, Any]:
        return {}

    def reply(self, user_turns: list[str], agent_turns: list[str], rng: Any) -> str:
        text = agent_turns[-1] if agent_turns else ""
        # Mirrors nltk.chat.util.Chat.respond, drawing the response from `rng`.
        for pattern, responses in self._chat._pairs:
            match = pattern.match(text)
            if match:
                resp = responses[int(rng.integers(len(responses)))]
                resp = self._chat._wildcards(resp, match)
                if resp[-2:] == "?.":
                    resp = resp[:-2] + "."
                if resp[-2:] == "??":
                    resp = resp[:-2] + "?"
                return resp
        return "Please tell me more."


def make_partner(kind: str, lm: Any, **kwargs: Any) -> LMPartner | ElizaPartner:
    if kind == "lm":
        return LMPartner(lm, **kwargs)
    if kind == "eliza":
        return ElizaPartner()
    raise ValueError(f"partner={kind!r} is not supported: choose 'lm' or 'eliza'")


__all__ = ["DEFAULT_PERSONA", "ElizaPartner", "LMPartner", "make_partner"]
