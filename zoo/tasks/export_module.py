"""The export role: what `model.keras` and `zoo export` hold, how raw inputs reach the model, and
text generation (TF Model Garden's `ExportModule`)."""

from __future__ import annotations

from typing import Any

from zoo.core.errors import ZooError
from zoo.data.base import DatasetInfo
from zoo.data.prepared import Prepared
from zoo.tasks.part import Part


class ExportModule(Part):
    """The network behind its fitted preprocessor, one bundle (the default)."""

    def saved_model(self, model: Any, prepared: Prepared) -> Any:
        """What `model.keras` holds and exports take: the network behind its preprocessor (raw
        inputs in), or the network itself when the family prepares its own inputs."""
        if prepared.preprocessor is None:
            return model
        from zoo.preprocessing.assemble import assemble

        return assemble(prepared.preprocessor, model, prepared.info.features)

    def parts(self, model: Any, prepared: Prepared) -> list:
        """What `zoo export` writes (`zoo.tasks.export_parts.ExportPart`s): by default the model
        itself; a GAN exports its generator, a VAE its encoder and decoder."""
        from zoo.tasks.export_parts import default_parts

        return default_parts(model, self, prepared)

    def signature(self, model: Any, info: DatasetInfo) -> list | None:
        """The named `tf.TensorSpec`s (batch dimension `None`) an export traces the model with, or
        None for the model's own inputs."""
        return None

    def text(self, info: DatasetInfo) -> dict[str, Any] | None:
        """How `zoo predict`/`zoo serve` tokenise raw text for this model: the `tokenizer.json` the
        family wrote into the run folder and how its encodings feed the model (`zoo.runtime.text`),
        or None when the model does not read text."""
        return None

    def assets(self) -> list:
        """Files of the run folder a bundle carries besides its `vocab*`/`tokenizer*` files (paths)."""
        return []

    def generate(self, prompts: list[str], options: Any, checkpoint: str = "final") -> list[str]:
        """Completions of `prompts` by this finished run (`zoo generate`; `options` is a
        `zoo.runtime.generation_options.GenerationOptions`). Only language models generate text."""
        raise ZooError(f"model {self.model_name!r} does not generate text: `zoo generate` needs the "
                       "run of a causal language model")
