"""Resident memory stays flat over a run: the dialogue reward's MiniLM no longer creeps."""

from benchmarks.soak import run_isolated


def test_dialogue_with_the_minilm_reward_keeps_its_memory_flat():
    # MiniLM's word embeddings used to page in row by row from the mapped weights file as
    # new token ids came (+43 MB over 60k steps); they are copied in at load now.
    result = run_isolated(
        dict(
            env_id="TextDialogue-v0",
            obs_mode="tokens",
            num_envs=1,
            steps=1500,
            model="tiny",
            sample_every=100,
            warmup=0.3,
            env_kwargs=dict(partner="eliza", max_new_tokens=8),
        )
    )
    assert result["growth_after_warmup_mib"] < 8.0, result["samples"]
    assert result["anon_growth_after_warmup_mib"] < 8.0, result["samples"]
