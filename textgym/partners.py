"""Simulated dialogue partners: who answers the agent in ``TextDialogue-v0``.

A partner sees the conversation from its own side (its earlier messages, the agent's
replies). An LM partner gives the prompt for its reply (``prompt_ids``) and the sampling
settings; the environment generates, batched across a vector env, from its seeded torch
generator. A partner without LM returns ``None`` there and writes its reply itself
(``reply``) from the environment's seeded numpy generator.
"""

import re
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
    """NLTK's rule-based ELIZA (its patterns, responses and reflections): no LM call, so it
    is fast; responses are chosen with the environment's seeded numpy generator instead of
    the global ``random``.

    It answers any text without raising. The agent's words are put into ELIZA's response
    templates once, as plain text: a ``%`` or ``{}`` of the agent's is not read as a
    template (NLTK's ``Chat`` re-scans its own output for ``%1``, so ``"50%"`` raised a
    ``ValueError`` there and ``"I feel %1"`` never returned). Lone surrogates become U+FFFD,
    so that the reply can be tokenised, and only the first :attr:`max_chars` characters of
    a turn are read, which bounds the time of a reply and its length.
    """

    max_chars: int = 10_000

    def __init__(self) -> None:
        from nltk.chat.eliza import pairs
        from nltk.chat.util import reflections

        self._pairs = [
            (re.compile(pattern, re.IGNORECASE), tuple(responses)) for pattern, responses in pairs
        ]
        self._reflections = dict(reflections)
        # Longest first, as NLTK's Chat does; on lowercased text, so every match is a key.
        words = sorted(self._reflections, key=len, reverse=True)
        self._reflect = re.compile(r"\b({})\b".format("|".join(map(re.escape, words))))

    def prompt_ids(self, user_turns: list[str], agent_turns: list[str]) -> None:
        return None  # no LM call: see reply()

    def sampling(self) -> dict[str, Any]:
        return {}

    def reply(self, user_turns: list[str], agent_turns: list[str], rng: Any) -> str:
        """ELIZA's answer to the agent's last turn, as NLTK's ``Chat.respond`` gives it but
        with the response drawn from ``rng`` (one draw per reply)."""
        text = agent_turns[-1][: self.max_chars] if agent_turns else ""
        text = _LONE_SURROGATE.sub("\ufffd", text)
        for pattern, responses in self._pairs:
            if match := pattern.match(text):
                return self._fill(responses[int(rng.integers(len(responses)))], match)
        return "Please tell me more."  # not reached: ELIZA's last pattern matches anything

    def _fill(self, template: str, match: re.Match[str]) -> str:
        """The template with ``%n`` replaced by group n of the agent's text (lowercased,
        first and second person swapped), in one pass over the template only."""

        def group(placeholder: re.Match[str]) -> str:
            n = int(placeholder.group(1))
            words = (match.group(n) or "") if n <= match.re.groups else ""
            return self._reflect.sub(lambda word: self._reflections[word.group(0)], words.lower())

        resp = _WILDCARD.sub(group, template)
        if resp[-2:] == "?.":
            resp = resp[:-2] + "."
        if resp[-2:] == "??":
            resp = resp[:-2] + "?"
        return resp


_WILDCARD = re.compile(r"%(\d)")  # %1 in a response template: the pattern's first group
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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
