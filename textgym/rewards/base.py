"""The reward interface: ``Reward`` (batched, with components and a signature) and the
batch checks every reward shares."""

from collections.abc import Sequence


class Reward:
    """Base class: subclasses implement :meth:`detailed`."""

    name: str = "reward"

    @property
    def signature(self) -> str:
        return self.name

    def detailed(
        self, completions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        raise NotImplementedError

    def __call__(
        self, completions: Sequence[str], references: Sequence[Sequence[str]] | None = None
    ) -> list[float]:
        if references is None:
            references = [()] * len(completions)
        return [item["reward"] for item in self.detailed(completions, references)]


def check_batch(completions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    """Reject mismatched batches and bare strings where lists of references are expected."""
    if isinstance(completions, str):
        raise TypeError("completions must be a sequence of strings, not one string")
    if len(completions) != len(references):
        raise ValueError(
            f"got {len(completions)} completions but {len(references)} reference lists"
        )
    for refs in references:
        if isinstance(refs, str):
            raise TypeError(
                f"each item of references must be a list of strings, got the string {refs!r}: "
                "wrap it as [reference]"
            )


__all__ = ["Reward", "check_batch"]
