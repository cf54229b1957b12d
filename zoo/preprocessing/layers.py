"""The one preprocessing step Keras has no layer for: filling blanks with a training-split value."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="zoo")
class ImputeMissing(keras.layers.Layer):
    """NaN -> `fill` (the training split's mean); with `indicator`, a second column says which were
    missing, so the model can learn from missingness (scikit-learn's `SimpleImputer(add_indicator)`)."""

    def __init__(self, fill: float = 0.0, indicator: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.fill = float(fill)
        self.indicator = bool(indicator)

    def call(self, inputs: Any) -> Any:
        missing = keras.ops.isnan(inputs)
        filled = keras.ops.where(missing, keras.ops.cast(self.fill, inputs.dtype), inputs)
        if not self.indicator:
            return filled
        return keras.ops.concatenate([filled, keras.ops.cast(missing, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], input_shape[-1] * (2 if self.indicator else 1))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fill": self.fill, "indicator": self.indicator}
