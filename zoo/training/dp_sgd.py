"""DP-SGD's training step for any compiled Keras model, and the epoch log of its privacy budget.

One forward pass over the batch (so dropout draws its masks as usual), then the Jacobian of the
per-microbatch losses with respect to the weights, vectorised by `tf.GradientTape.jacobian`
(pfor over the backward pass): each row is one microbatch's gradient. Rows are clipped to
`l2_norm_clip`, summed, replica 0 adds Gaussian noise of std `noise_multiplier x l2_norm_clip`,
and the result is divided by the expected global batch (in microbatches). The optimizer's
cross-replica SUM of gradients then yields exactly one noisy average per global batch.

Keras internals used, as Keras's own `train_step` uses them: `model._loss_tracker` (the `loss`
entry of the epoch logs) and `_flatten_layers` (every nested layer, for the refusals), both through
`zoo.core.compat`.
"""

from __future__ import annotations

import logging
from typing import Any

import keras

from zoo.core.compat import loss_tracker, nested_layers
from zoo.core.errors import ZooError
from zoo.core.lazy import import_tensorflow
from zoo.run.rundir import write_json
from zoo.training.accounting import PrivacyPlan

log = logging.getLogger("zoo.train")
MIXING_LAYERS = (keras.layers.BatchNormalization,)


def check_per_example(model: Any) -> None:
    """Refuse layers whose output for one example depends on the other examples of the batch."""
    for layer in nested_layers(model):
        if isinstance(layer, MIXING_LAYERS):
            raise ZooError(f"privacy=dp_sgd: model {model.name!r} has {type(layer).__name__} layer "
                           f"{layer.name!r}, which mixes the examples of a batch, so per-example "
                           "clipping bounds nothing; turn it off (model.batch_norm=false) or use "
                           "LayerNormalization/GroupNormalization")
        if getattr(layer, "activity_regularizer", None) is not None:
            raise ZooError(f"privacy=dp_sgd: layer {layer.name!r} of model {model.name!r} has an "
                           "activity regulariser, a loss on the whole batch that per-example "
                           "clipping cannot bound; remove it (weight regularisers are fine)")


def per_example_losses(model: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
    """The compiled loss of every example, unreduced: shape (batch,)."""
    tf = import_tensorflow()
    loss = model.loss
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    values = loss.call(y, y_pred) if isinstance(loss, keras.losses.Loss) else loss(y, y_pred)
    values = tf.cast(values, tf.float32)
    if values.shape.rank > 1:
        values = tf.reduce_mean(tf.reshape(values, (tf.shape(values)[0], -1)), axis=1)
    if sample_weight is not None:
        values = values * tf.reshape(tf.cast(sample_weight, tf.float32), (-1,))
    return values


def clip_rows(rows: list[Any], clip: float) -> tuple[list[Any], Any, Any]:
    """Sum over the first axis of per-microbatch gradients, each scaled to L2 norm <= `clip`.

    Returns the clipped sum per variable, each row's norm before clipping, and its scale factor.
    """
    tf = import_tensorflow()
    squares = [tf.reduce_sum(tf.reshape(tf.square(r), (tf.shape(r)[0], -1)), axis=1) for r in rows]
    norms = tf.sqrt(tf.add_n(squares))
    factors = tf.minimum(1.0, clip / tf.maximum(norms, 1e-12))
    summed = [tf.tensordot(factors, r, axes=1) for r in rows]
    return summed, norms, factors


class DPSGDStep:
    """A replacement `train_step` for `model`: clipped per-microbatch gradients plus noise."""

    def __init__(self, model: Any, plan: PrivacyPlan, noise_seed: int):
        self.model, self.plan, self.noise_seed = model, plan, int(noise_seed)
        # The expected number of clipped units in a global batch: the noisy sum's divisor.
        self.denominator = plan.global_batch / plan.microbatch_size

    def microbatch_gradients(self, x: Any, y: Any, sample_weight: Any) -> tuple[list[Any], Any, Any]:
        """Rows of per-microbatch gradients (Jacobian), the predictions and the mean loss."""
        tf = import_tensorflow()
        model, size = self.model, self.plan.microbatch_size
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)  # Keras drops `training` where call() has none
            losses = per_example_losses(model, y, y_pred, sample_weight)
            count = tf.shape(losses)[0]
            if size > 1:
                groups = (count + size - 1) // size
                losses_per_unit = tf.math.unsorted_segment_sum(losses, tf.range(count) // size,
                                                               groups) / size
            else:
                losses_per_unit = losses
        rows = tape.jacobian(losses_per_unit, model.trainable_variables,
                             unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return rows, y_pred, tf.reduce_mean(losses)

    def noise(self, variables: list[Any]) -> list[Any]:
        """Gaussian noise for one global batch: drawn on replica 0, zero on the others.

        The seed is (noise_seed + variable index, optimizer step), so a resumed run draws the
        same noise as an uninterrupted one.
        """
        tf = import_tensorflow()
        context = tf.distribute.get_replica_context()
        first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float32) if context else 1.0
        std = self.plan.noise_multiplier * self.plan.l2_norm_clip
        step = tf.cast(self.model.optimizer.iterations, tf.int64)
        return [first * std * tf.random.stateless_normal(
                    tf.shape(v), seed=tf.stack([tf.constant(self.noise_seed + i, tf.int64), step]),
                    dtype=tf.float32)
                for i, v in enumerate(variables)]

    def private_gradients(self, x: Any, y: Any, sample_weight: Any) -> tuple[list[Any], Any, Any]:
        """The noisy clipped gradient this replica contributes, predictions, and the mean loss."""
        rows, y_pred, loss = self.microbatch_gradients(x, y, sample_weight)
        summed, _, _ = clip_rows(rows, self.plan.l2_norm_clip)
        variables = self.model.trainable_variables
        grads = [(s + n) / self.denominator for s, n in zip(summed, self.noise(variables), strict=True)]
        return grads, y_pred, loss

    def __call__(self, data: Any) -> dict[str, Any]:
        tf = import_tensorflow()
        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        grads, y_pred, loss = self.private_gradients(x, y, sample_weight)
        variables = model.trainable_variables
        if model.losses:  # weight regularisers (activity ones are refused) depend on no example
            with tf.GradientTape() as tape:
                penalty = tf.add_n([tf.cast(v, tf.float32) for v in model.losses])
            extra = tape.gradient(penalty, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            grads = [g + e for g, e in zip(grads, extra, strict=True)]
            loss = loss + penalty
        model.optimizer.apply_gradients(zip(grads, variables, strict=True))
        loss_tracker(model).update_state(loss, sample_weight=tf.shape(y_pred)[0])
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def steps_taken(model: Any) -> int:
    """The optimizer's step count (under MirroredStrategy, its variable is a mirrored one)."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations.value))


def install_dp_sgd(model: Any, plan: PrivacyPlan, noise_seed: int) -> Any:
    """Make `model.fit` train with DP-SGD (this instance only; `model.keras` is unchanged)."""
    check_per_example(model)
    model.train_step = DPSGDStep(model, plan, noise_seed)
    model.train_function = None
    return model


class PrivacyLedger(keras.callbacks.Callback):
    """After every epoch: epsilon so far into the logs (history.csv, the log line) and `privacy.json`.

    The step count is the optimizer's, which a checkpoint restores, so a resumed run goes on
    counting from where the interrupted one stopped.
    """

    def __init__(self, plan: PrivacyPlan, path: Any, previous: list[dict[str, Any]] | None = None):
        super().__init__()
        self.plan, self.path = plan, path
        self.previous = list(previous or [])
        self.epochs: list[dict[str, Any]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        steps = steps_taken(self.model)
        self.epochs = [e for e in self.previous if e["steps"] <= steps]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        steps = steps_taken(self.model)
        epsilon = self.plan.epsilon(steps)
        self.epochs = [e for e in self.epochs if e["epoch"] < epoch + 1]
        self.epochs.append({"epoch": epoch + 1, "steps": steps, "epsilon": epsilon})
        if logs is not None:
            logs["epsilon"] = epsilon
        write_json(self.path, {**self.plan.to_dict(), "epochs": self.epochs})
