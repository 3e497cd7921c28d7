"""TextSummarization-v0: summarise a document in one sentence."""

from typing import Unpack

from textgym.arguments import TextEnvKwargs
from textgym.core import TextEnv
from textgym.rewards import RougeL


class TextSummarizationEnv(TextEnv):
    """
    ## Description
    The agent summarises a document in one sentence, one token at a time. The prompt asks
    for a one-sentence summary through the model's chat template.
    The prompt is chat-formatted; `max_obs_tokens=512`.

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
    `length_penalty=0.0`; `use_stemmer=False`; `max_new_tokens=48`;
    and the common arguments below.

    ## Version History
    - v0: initial version.
    """

    task = "summarization"
    reward_fn: RougeL
    requires_references = True
    default_max_new_tokens = 48
    default_max_obs_tokens = 512

    def __init__(
        self,
        length_penalty: float = 0.0,
        use_stemmer: bool = False,
        **kwargs: Unpack[TextEnvKwargs],
    ) -> None:
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
