"""Keras side of distillation: `keras.distillation.Distiller` on the logits under a softmax head.

Our classifiers end in a softmax `Activation` (`zoo.modeling.task_head`), so the tensors to soften
with a temperature are the inputs of that layer, not the model outputs. `SoftTargets` names the
layers that produce them; `SoftmaxDistiller` runs the student once per step to get its
probabilities (for the label loss and metrics) and its logits (for the teacher's soft targets).
"""

from __future__ import annotations

from typing import Any

import keras
from keras.distillation import Distiller, LogitsDistillation

from zoo.core.compat import OneStudentPass, distiller_student_features
from zoo.core.errors import ZooError


def logits_layer(model: Any, role: str) -> str:
    """Name of the layer whose output feeds the model's final softmax `Activation`."""
    head = next((layer for layer in model.layers if layer.output is model.outputs[0]), None)
    activation = getattr(getattr(head, "activation", None), "__name__", "")
    if not isinstance(head, keras.layers.Activation) or activation != "softmax":
        raise ZooError(f"{role} model {model.name!r} does not end in a softmax Activation layer: "
                       "distillation needs the logits under it (build the head with "
                       "zoo.modeling.task_head)")
    source = next((layer for layer in model.layers if layer is not head and layer.output is head.input),
                  None)
    if source is None:
        raise ZooError(f"{role} model {model.name!r}: no single layer feeds its softmax head, so its "
                       "logits cannot be read; build the head with zoo.modeling.task_head")
    return source.name


class SoftTargets(LogitsDistillation):
    """Hinton et al.'s loss: KL(softmax(teacher/T) || softmax(student/T)) x T^2 on named logit layers.

    The loss is a `keras.losses.KLDivergence` instance on purpose: Keras 3.15 resolves the
    default string "kl_divergence" to a function, which skips the softmax and the T^2 factor.
    """

    def __init__(self, temperature: float, teacher_layer_name: str, student_layer_name: str):
        super().__init__(temperature=float(temperature), loss=keras.losses.KLDivergence())
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Any:
        # logits may be float16 under mixed precision; the softened softmax needs float32
        return super().compute_loss(keras.ops.cast(teacher_outputs, "float32"),
                                    keras.ops.cast(student_outputs, "float32"))

    def get_config(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "teacher_layer_name": self.teacher_layer_name,
                "student_layer_name": self.student_layer_name}


class SoftmaxDistiller(OneStudentPass, Distiller):
    """A `Distiller` whose checkpoints are the student's own (its layers and the shared optimizer).

    The student must be compiled with this distiller's optimizer, so `save_weights` of the
    distiller writes exactly what a plain run of the student writes: `zoo evaluate
    checkpoint=best` and resuming work on it unchanged.
    """

    def __init__(self, teacher: Any, student: Any, temperature: float, alpha: float, **kwargs: Any):
        targets = SoftTargets(temperature, logits_layer(teacher, "teacher"),
                              logits_layer(student, "student"))
        super().__init__(teacher=teacher, student=student, distillation_losses=targets,
                         student_loss_weight=float(alpha), **kwargs)
        self._soft_targets = targets
        self._student_logits = None

    def call(self, inputs: Any, training: Any = None, **kwargs: Any) -> Any:
        # One student pass gives both outputs (Keras's Distiller runs the student twice, the
        # second time always with training=True, even in validation).
        outputs = distiller_student_features(self, inputs, training)
        self._student_logits = outputs[self._soft_targets.student_layer_name]
        return outputs["final_output"]

    def student_features(self, x: Any, y_pred: Any) -> dict[str, Any]:
        """What `call` computed, for Keras's loss (`OneStudentPass`): no second student pass."""
        return {"final_output": y_pred, self._soft_targets.student_layer_name: self._student_logits}

    def save_weights(self, filepath: Any, overwrite: bool = True, max_shard_size: Any = None) -> None:
        self.student.save_weights(filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False, **kwargs: Any) -> None:
        self.student.load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)
