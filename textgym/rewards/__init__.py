"""Rewards as plain batched callables: ``reward(completions, references) -> list[float]``.

Each reward also has ``detailed(...)``, which returns one dict of components per item
(the ``"reward"`` key is what ``__call__`` returns), and a ``signature`` string that pins
the metric's version and options; environments put both into ``info``. They import their
metric libraries on construction, so ``import textgym.rewards`` stays light.
"""

from textgym.encoders import MiniLMEncoder
from textgym.rewards.base import Reward, check_batch
from textgym.rewards.bleu import SentenceBLEU, SentenceChrF
from textgym.rewards.rouge import RougeL
from textgym.rewards.sentiment import VaderSentiment
from textgym.rewards.similarity import DialogueReward, lexical_f1

__all__ = [
    "DialogueReward",
    "MiniLMEncoder",
    "Reward",
    "RougeL",
    "SentenceBLEU",
    "SentenceChrF",
    "VaderSentiment",
    "check_batch",
    "lexical_f1",
]
