"""Simulated dialogue partners: who answers the agent in ``TextDialogue-v0``.

A partner sees the conversation from its own side (its earlier messages, the agent's
replies). An LM partner gives the prompt for its reply (``prompt_ids``) and the sampling
settings; the environment generates, batched across a vector env, from its seeded torch
generator. A partner without LM returns ``None`` there and writes its reply itself
(``reply``) from the environment's seeded numpy generator.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from textgym.lm import LM

if TYPE_CHECKING:
    import torch

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


class PartnerHost(Protocol):
    """The partner side of the phase protocol (``TextEnv`` provides it)."""

    lm: LM

    @property
    def partner_due(self) -> bool: ...

    def partner_request(self) -> list[int] | None: ...

    def partner_sampling(self) -> dict[str, Any]: ...

    def torch_generator(self) -> "torch.Generator": ...

    def partner_apply(self, reply_ids: list[int] | None) -> None: ...


def partner_replies(envs: Sequence[PartnerHost]) -> None:
    """Give every environment whose partner is due its reply. LM replies of all of them
    come from one batched ``generate`` per sampling setting (one, in practice); each row
    draws from its own environment's seeded generator, so a row does not depend on its
    batch."""
    due = [env for env in envs if env.partner_due]
    replies: dict[int, list[int] | None] = {id(env): None for env in due}
    groups: dict[tuple, list[tuple[PartnerHost, list[int]]]] = {}
    for env in due:
        request = env.partner_request()
        if request is not None:
            key = tuple(sorted(env.partner_sampling().items()))
            groups.setdefault(key, []).append((env, request))
    for key, rows in groups.items():
        outputs = rows[0][0].lm.generate(
            [request for _, request in rows],
            **dict(key),
            generator=[env.torch_generator() for env, _ in rows],
        )
        replies.update((id(env), out) for (env, _), out in zip(rows, outputs, strict=True))
    for env in due:
        env.partner_apply(replies[id(env)])


def make_partner(kind: str, lm: Any, **kwargs: Any) -> LMPartner | ElizaPartner:
    if kind == "lm":
        return LMPartner(lm, **kwargs)
    if kind == "eliza":
        return ElizaPartner()
    raise ValueError(f"partner={kind!r} is not supported: choose 'lm' or 'eliza'")


__all__ = [
    "DEFAULT_PERSONA",
    "ElizaPartner",
    "LMPartner",
    "PartnerHost",
    "make_partner",
    "partner_replies",
]
