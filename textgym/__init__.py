"""textgym: Gymnasium environments for reinforcement learning on text.

Importing this package registers the environments and nothing else: torch and
transformers are imported only when an environment is made.

    >>> import gymnasium as gym, textgym
    >>> env = gym.make("TextTranslation-v0", model="tiny")  # the default model: smollm2-135m
    >>> obs, info = env.reset(seed=0)
    >>> obs["input_ids"].shape, info["references"][0] != ""
    ((256,), True)
    >>> obs, reward, terminated, truncated, info = env.step(2)  # <|im_end|> ends the turn
    >>> terminated, reward == info["reward_components"]["reward"]
    (True, True)
"""

from gymnasium.envs.registration import register

__version__ = "0.1.0"

# One flat list, as in gymnasium/envs/__init__.py. `max_episode_steps` is a safety cap on
# the whole episode (TimeLimit); the per-turn token budget `max_new_tokens` inside each
# environment is what normally ends an episode.
register(
    id="TextSentiment-v0",
    entry_point="textgym.envs.sentiment:TextSentimentEnv",
    vector_entry_point="textgym.vector:TextSentimentVectorEnv",
    max_episode_steps=512,
)
register(
    id="TextTranslation-v0",
    entry_point="textgym.envs.translation:TextTranslationEnv",
    vector_entry_point="textgym.vector:TextTranslationVectorEnv",
    max_episode_steps=512,
)
register(
    id="TextSummarization-v0",
    entry_point="textgym.envs.summarization:TextSummarizationEnv",
    vector_entry_point="textgym.vector:TextSummarizationVectorEnv",
    max_episode_steps=512,
)
register(
    id="TextDialogue-v0",
    entry_point="textgym.envs.dialogue:TextDialogueEnv",
    vector_entry_point="textgym.vector:TextDialogueVectorEnv",
    max_episode_steps=2048,
)

ENV_IDS = ("TextSentiment-v0", "TextTranslation-v0", "TextSummarization-v0", "TextDialogue-v0")

__all__ = ["ENV_IDS", "__version__"]
