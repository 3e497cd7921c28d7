"""TextSentiment-v0: continue a prompt toward a target sentiment."""

from typing import Unpack

from textgym.arguments import TextEnvKwargs
from textgym.core import TextEnv
from textgym.rewards import VaderSentiment
from textgym.scoring import ScoreRequest


class TextSentimentEnv(TextEnv):
    """
    ## Description
    The agent continues the opening of a review or a story (e.g. "I ordered the blue
    kettle on a Tuesday, and when it finally arrived the first thing I noticed was") and
    is rewarded for the sentiment of its continuation toward a target polarity. The
    openings are neutral, so the continuation decides the sentiment.
    The prompt is the plain opening text, without chat markup; `max_obs_tokens=128`.

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
    and the common arguments below.

    ## Version History
    - v0: initial version.
    """

    task = "sentiment"
    reward_fn: VaderSentiment
    chat = False
    default_max_new_tokens = 24
    default_max_obs_tokens = 128

    def __init__(self, target: str = "positive", **kwargs: Unpack[TextEnvKwargs]) -> None:
        self.target = target
        super().__init__(**kwargs)

    def _make_reward(self) -> VaderSentiment:
        return VaderSentiment(self.target)

    def _score_inputs(self, text: str) -> ScoreRequest:
        assert self.episode is not None  # the continuation alone: no references
        return ScoreRequest(text, prompt=self.episode.example.prompt)
