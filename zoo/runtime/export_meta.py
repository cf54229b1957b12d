"""A bundle's `export.json` as a dataclass: written by `zoo export`, read by `zoo predict`/`zoo serve`.

Versioned (`zoo.core.formats`): format 1 is these fields; zoo 0.1.0 wrote them without
`format_version`, and such bundles still open. docs/export.md describes each field.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from zoo.core.formats import format_of, stamped, unstamped, write_versioned

EXPORT_FORMAT = 1


@dataclass
class ExportMeta:
    """What a bundle's artifact is, what it takes and gives, and how it was checked against Keras."""

    name: str
    format: str  # onnx | savedmodel | tflite | keras
    model_file: str  # the artifact, relative to the bundle folder
    inputs: list[dict[str, Any]]  # per input: name, shape (null: any size), dtype, kind
    outputs: dict[str, Any]  # kind (probabilities, values, samples, latent, causal_lm) and its fields
    preprocessing: dict[str, Any]  # inside_model, or normalize with mean/std; text: the tokenizer
    part: str = "model"  # which part of the family (a VAE's encoder, decoder)
    description: str = ""
    quantize: str = "none"
    opset: int | None = None  # ONNX only
    created: str = ""  # ISO 8601, UTC
    run_dir: str = ""  # the run folder it was exported from
    model: str = ""
    dataset: str = ""
    task: str = ""  # classification | regression | generative | unlabelled
    modality: str = ""
    input_kind: str = "data"  # data (the dataset's examples) | latent (latent vectors)
    sizes: dict[str, int] = field(default_factory=dict)  # artifact_bytes, keras_bytes
    verification: dict[str, Any] = field(default_factory=dict)  # the check against Keras
    assets: list[str] = field(default_factory=list)  # files copied beside the artifact

    def to_dict(self) -> dict[str, Any]:
        return stamped(asdict(self), EXPORT_FORMAT)

    def save(self, path: str | os.PathLike) -> None:
        """`export.json`, versioned and written atomically."""
        write_versioned(path, asdict(self), EXPORT_FORMAT)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | os.PathLike = "export.json") -> ExportMeta:
        """An `export.json` already checked by `zoo.runtime.bundle.validate_meta` (any format up to
        `EXPORT_FORMAT`); keys this zoo does not know are left out."""
        format_of(data, source, EXPORT_FORMAT)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in unstamped(data).items() if k in known})
