"""The data role: raw splits in, a frozen `Prepared` out (keras-hub's `Preprocessor`)."""

from __future__ import annotations

from zoo.data.base import RawSplits
from zoo.data.prepared import Prepared
from zoo.tasks.part import Part


class DataPreparer(Part):
    """Fit the preprocessor (Keras preprocessing layers adapted on the training split,
    `zoo.preprocessing`) and run every split through it (the default)."""

    def prepare(self, splits: RawSplits, fit: bool) -> Prepared:
        """Model inputs from raw splits, without changing `splits`.

        `fit=True` when training starts: fit the preprocessing on the training split and save it
        with `dataset.json` into the run folder; `fit=False` when a finished run is reloaded:
        restore both from the run folder instead.
        """
        from zoo.preprocessing.prepare import prepare_splits

        return prepare_splits(splits, self.cfg.dataset, self.run, fit)
