"""TextTranslation-v0: translate an English sentence into Spanish."""

from typing import Unpack

from textgym.arguments import TextEnvKwargs
from textgym.core import TextEnv
from textgym.rewards import SentenceBLEU, SentenceChrF

METRICS = ("bleu", "chrf")


class TextTranslationEnv(TextEnv):
    """
    ## Description
    The agent translates a source sentence (English by default) into the target language
    (Spanish by default), one token at a time. The prompt asks for the translation through
    the model's chat template, so an instruction-tuned LM starts from a sensible policy.
    The prompt is chat-formatted; `max_obs_tokens=256`.

    ## Rewards
    At the end of the episode: sentence BLEU of the translation against the reference(s)
    from sacrebleu (effective order, 13a tokenisation) divided by 100, so in [0, 1]; a
    translation equal to its reference scores 1.0. `metric="chrf"` uses chrF instead.
    `info["metric_signature"]` is sacrebleu's signature; `info["reward_components"]` holds
    `bleu` (0-100) and `bp`, or `chrf`.

    ## Starting State
    A sentence pair drawn from a seeded shuffle of the dataset: `"original"` (default;
    365 English-Spanish pairs written for textgym: 326 `train`, 39 `test`), `"bible"`
    (31k aligned King James / Reina-Valera 1909 verses, read from the Debian packages
    `sword-text-kjv` and `sword-text-sparv` when installed) or `"original+bible"`.

    ## Episode End
    Terminated on an end-of-turn token; truncated after `max_new_tokens` tokens (the
    reward is still given). `max_episode_steps=512` in the registration is a safety cap.

    ## Arguments
    `metric="bleu"` or `"chrf"`; `source_language="English"`, `target_language="Spanish"`
    (used in the instruction; pass a dataset of that pair); `max_new_tokens=48`;
    and the common arguments below.

    ## Version History
    - v0: initial version.
    """

    task = "translation"
    reward_fn: SentenceBLEU | SentenceChrF
    requires_references = True
    default_max_new_tokens = 48

    def __init__(
        self,
        metric: str = "bleu",
        source_language: str = "English",
        target_language: str = "Spanish",
        **kwargs: Unpack[TextEnvKwargs],
    ) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r} is not supported: choose one of {list(METRICS)}")
        self.metric = metric
        self.source_language, self.target_language = source_language, target_language
        super().__init__(**kwargs)

    def _make_reward(self) -> SentenceBLEU | SentenceChrF:
        return SentenceBLEU() if self.metric == "bleu" else SentenceChrF()

    def _prompt_messages(self, content: str) -> list[dict[str, str]]:
        instruction = (
            f"Translate this {self.source_language} sentence into {self.target_language}. "
            "Reply with the translation only."
        )
        return [{"role": "user", "content": f"{instruction}\n\n{content}"}]
