"""The privacy budget of DP-SGD, accounted with Google's `dp-accounting` (no TensorFlow here).

Each training step is a Poisson-subsampled Gaussian mechanism: every example joins the batch
with probability q = global batch / training examples, and the clipped gradient sum gets
Gaussian noise of standard deviation `noise_multiplier x l2_norm_clip`. `steps` such steps
compose; the accountant (Renyi DP or privacy-loss distributions) turns that into (epsilon, delta).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from zoo.config.bounds import choices_of
from zoo.config.schema import PrivacyConfig
from zoo.core.errors import ZooError

ACCOUNTANTS = choices_of(PrivacyConfig, "accountant")


def dp_sgd_event(sampling_rate: float, noise_multiplier: float, steps: int) -> Any:
    """The `dp_accounting.DpEvent` of `steps` Poisson-sampled Gaussian steps."""
    import dp_accounting

    step = dp_accounting.PoissonSampledDpEvent(sampling_rate,
                                               dp_accounting.GaussianDpEvent(noise_multiplier))
    return dp_accounting.SelfComposedDpEvent(step, int(steps))


def make_accountant(name: str) -> Any:
    """A fresh `dp_accounting` accountant: `rdp` (RdpAccountant) or `pld` (PLDAccountant)."""
    from dp_accounting import pld, rdp

    if name == "rdp":
        return rdp.RdpAccountant()
    if name == "pld":
        return pld.PLDAccountant()
    raise ZooError(f"privacy.accountant={name!r}: expected one of {', '.join(ACCOUNTANTS)}")


def epsilon_after(steps: int, sampling_rate: float, noise_multiplier: float, delta: float,
                  accountant: str = "rdp") -> float:
    """Epsilon at `delta` after `steps` steps (0 before the first; inf without noise)."""
    if steps <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    ledger = make_accountant(accountant)
    ledger.compose(dp_sgd_event(sampling_rate, noise_multiplier, steps))
    return float(ledger.get_epsilon(delta))


def solve_noise(target_epsilon: float, steps: int, sampling_rate: float, delta: float,
                accountant: str = "rdp") -> float:
    """The smallest noise multiplier whose epsilon after `steps` steps is at most the target."""
    import dp_accounting

    if target_epsilon <= 0 or not math.isfinite(target_epsilon):
        raise ZooError(f"privacy.epsilon={target_epsilon}: expected a positive finite target "
                       "(1 to 10 is usual)")
    try:
        sigma = dp_accounting.calibrate_dp_mechanism(
            lambda: make_accountant(accountant),
            lambda noise: dp_sgd_event(sampling_rate, noise, steps),
            target_epsilon, delta,
            dp_accounting.LowerEndpointAndGuess(lower_endpoint=1e-3, initial_guess=1.0), tol=1e-4)
    except dp_accounting.mechanism_calibration.NoBracketIntervalFoundError:
        raise ZooError(f"privacy.epsilon={target_epsilon}: no noise multiplier reaches it in "
                       f"{steps} steps at delta={delta:.3g}; raise the target or train fewer "
                       "steps") from None
    # Brent's method returns a value within tol of the optimum: round up to stay within budget.
    sigma = math.ceil(float(sigma) * 1e4) / 1e4
    return sigma


def default_delta(train_examples: int) -> float:
    """1 / (10 N): well below 1 / N, the level at which releasing one whole record is allowed."""
    return 1.0 / (10.0 * train_examples)


@dataclass
class PrivacyPlan:
    """What the accountant needs, fixed when training starts; saved as `privacy.json`."""

    l2_norm_clip: float
    noise_multiplier: float
    delta: float
    sampling_rate: float  # q = expected global batch / training examples
    global_batch: int
    train_examples: int
    steps_per_epoch: int
    planned_steps: int
    microbatch_size: int = 1
    accountant: str = "rdp"
    target_epsilon: float | None = None
    replicas: int = 1
    noise_placement: str = "replica 0 adds N(0, (noise_multiplier x l2_norm_clip)^2) once per global batch"
    sampling: str = ("accounted as Poisson sampling; the pipeline draws shuffled fixed-size "
                     "batches (see docs/privacy.md)")

    def epsilon(self, steps: int) -> float:
        return epsilon_after(steps, self.sampling_rate, self.noise_multiplier, self.delta,
                             self.accountant)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
