"""The configuration of a token-level PPO run (and of its critic-free variants)."""

from dataclasses import dataclass

ALGOS = ("ppo", "reinforce", "rloo", "grpo")


@dataclass
class PPOConfig:
    # -- run ---------------------------------------------------------------------------------
    env_id: str = "TextSentiment-v0"
    """the textgym environment id (rollouts use its ``utterance`` interface)"""
    model: str = "smollm2-135m"
    """the policy's initial weights and the frozen reference: a textgym model name"""
    algo: str = "ppo"
    """ppo (value head + GAE), reinforce (batch-mean baseline), rloo or grpo"""
    seed: int = 0
    """seed of the environments, the sampling generator and the value head"""
    device: str = "auto"
    """torch device; auto picks CUDA when available"""
    total_iterations: int = 100
    """number of rollout + update iterations"""
    out_dir: str | None = None
    """where metrics.csv, TensorBoard events, checkpoints and the final model go
    (None: runs/ppo/<algo>-<env>-<seed>)"""
    checkpoint_every: int = 10
    """write a resumable checkpoint every this many iterations (and at the end)"""
    resume: bool = False
    """continue from the checkpoint in out_dir, if there is one"""
    tensorboard: bool = True
    """also write TensorBoard events (needs the tensorboard package; metrics.csv always)"""
    progress: bool = True
    """show a progress bar"""
    torch_threads: int = 0
    """torch intra-op threads on CPU (0: torch's default)"""
    dtype: str | None = None
    """the LMs' dtype: None (float32), bfloat16 or float16; on CUDA the update runs under
    bf16 autocast whatever this is"""

    # -- rollout -----------------------------------------------------------------------------
    batch_size: int = 64
    """sequences (agent turns) per iteration, one per sub-environment"""
    group_size: int = 4
    """samples per prompt for rloo and grpo (k); ignored by ppo and reinforce"""
    max_new_tokens: int | None = None
    """per-turn token budget; None keeps the environment's default"""
    num_turns: int | None = None
    """agent turns per episode for multi-turn environments (dialogue); None: the default"""
    eval_episodes: int = 32
    """held-out (split=test) episodes scored with the trained policy at the end (0: skip)"""
    eval_every: int = 0
    """also evaluate every this many iterations (0: only at the end)"""
    compile_generate: bool | None = None
    """torch.compile the CUDA sampler's prefill and decode step before capturing them (about
    a minute per batch shape, ~3.6x faster decoding); None: on CUDA"""
    missing_eos_penalty: float | None = None
    """subtracted from the reward of a turn that ends without an end-of-turn token"""

    # -- optimisation --------------------------------------------------------------------------
    minibatch_size: int = 16
    """sequences per gradient step"""
    update_epochs: int = 4
    """passes over each batch"""
    learning_rate: float = 1e-5
    """Adam learning rate at the start"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the run"""
    max_grad_norm: float = 1.0
    """global gradient-norm clip"""
    group_by_length: bool = False
    """fill each minibatch with rows of similar length (runs of 8 minibatches sorted by
    length, then shuffled), so that short rows do not pay for the batch's longest (most
    useful for multi-turn dialogue, whose turns' prompts grow)"""
    cuda_graph_update: bool | None = None
    """replay each minibatch step (forward, backward, clip, AdamW) from a CUDA graph captured
    once per minibatch shape (widths rounded up to multiples of 16); None: on CUDA"""
    compile_update: bool = False
    """put the update's forward and loss through torch.compile (fused kernels; the first
    minibatch pays minutes of compiling for a 30-layer model)"""
    gradient_checkpointing: bool = False
    """recompute activations in the backward pass (less memory for larger models, ~30%
    more update time)"""

    # -- PPO ---------------------------------------------------------------------------------
    gamma: float = 1.0
    """discount per token"""
    lam: float = 0.95
    """GAE lambda"""
    clip_coef: float = 0.2
    """policy ratio clip epsilon"""
    vf_clip_coef: float = 0.2
    """value clip range around the rollout's values"""
    vf_coef: float = 0.1
    """weight of the value loss"""
    whiten_advantages: bool = True
    """normalise advantages over the batch's tokens"""

    # -- KL to the reference -----------------------------------------------------------------
    kl_coef: float = 0.05
    """initial (or fixed) coefficient of the per-token KL penalty"""
    adaptive_kl: bool = True
    """adapt kl_coef toward target_kl (Ziegler et al. 2019); False keeps it fixed"""
    target_kl: float = 6.0
    """the adaptive controller's target KL per sequence (nats)"""
    kl_horizon: int = 10000
    """the adaptive controller's horizon, in sequences"""

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"algo={self.algo!r} is unknown: choose one of {ALGOS}")
        if self.out_dir is None:
            env = self.env_id.replace("/", "_")
            self.out_dir = f"runs/ppo/{self.algo}-{env}-{self.seed}"
        for name in (
            "batch_size",
            "minibatch_size",
            "update_epochs",
            "total_iterations",
            "checkpoint_every",
        ):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        self._check_batching()
        self._check_optimisation()

    def _check_batching(self) -> None:
        if self.batch_size % self.minibatch_size:
            raise ValueError(
                f"batch_size={self.batch_size} is not divisible by minibatch_size="
                f"{self.minibatch_size}: pick a minibatch_size that divides it"
            )
        if self.algo in ("rloo", "grpo"):
            if self.group_size < 2:
                raise ValueError(
                    f"algo={self.algo!r} compares samples of one prompt, so group_size must "
                    f"be >= 2, got {self.group_size}"
                )
            if self.batch_size % self.group_size:
                raise ValueError(
                    f"batch_size={self.batch_size} is not divisible by group_size="
                    f"{self.group_size}: each prompt needs group_size samples in the batch"
                )

    def _check_optimisation(self) -> None:
        if self.eval_episodes < 0 or self.eval_every < 0:
            raise ValueError(
                f"eval_episodes and eval_every must be >= 0, got {self.eval_episodes} and "
                f"{self.eval_every}"
            )
        if self.dtype not in (None, "float32", "bfloat16", "float16"):
            raise ValueError(
                f"dtype={self.dtype!r} is not supported: use None, float32, bfloat16 or float16"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.clip_coef <= 0:
            raise ValueError(f"clip_coef must be > 0 (0.2 is usual), got {self.clip_coef}")
        if self.vf_clip_coef <= 0:
            raise ValueError(f"vf_clip_coef must be > 0, got {self.vf_clip_coef}")
        if not (0.0 <= self.gamma <= 1.0 and 0.0 <= self.lam <= 1.0):
            raise ValueError(f"gamma and lam must be in [0, 1], got {self.gamma}, {self.lam}")
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {self.kl_coef}")
        if self.adaptive_kl and self.target_kl <= 0:
            raise ValueError(
                f"target_kl must be > 0 with adaptive_kl, got {self.target_kl}; "
                "or set adaptive_kl=False for a fixed coefficient"
            )
