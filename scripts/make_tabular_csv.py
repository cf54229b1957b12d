"""Write a realistic CSV from scikit-learn's bundled raw diabetes data (442 patients, no download).

The real measurements are kept; to look like files people have, `sex` is written as a word, some
cells are blanked (`bmi` every 9th row, `bp` as `NA` every 13th), a `clinic` column of names is
derived from the row's own age (its decade; blank, not recorded, every 17th row), and the target
(disease progression one year on) is scaled to a cost in the hundreds of thousands, so a model that
does not scale its target fails visibly.

    python scripts/make_tabular_csv.py diabetes.csv
    zoo train dataset=csv dataset.path=diabetes.csv dataset.target=cost model=mlp
"""

from __future__ import annotations

import csv
import gzip
import sys
from importlib import resources
from pathlib import Path

COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
CLINICS = ["north", "south", "east", "west"]


def read_raw() -> tuple[list[list[str]], list[str]]:
    data = resources.files("sklearn.datasets") / "data"
    with gzip.open(data / "diabetes_data_raw.csv.gz", "rt") as handle:
        rows = [line.split() for line in handle if line.strip()]
    with gzip.open(data / "diabetes_target.csv.gz", "rt") as handle:
        target = [line.strip() for line in handle if line.strip()]
    return rows, target


def write_diabetes_csv(path: str | Path) -> Path:
    """The CSV described above at `path` (header: the columns, `clinic`, `cost`)."""
    rows, target = read_raw()
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, "clinic", "cost"])
        for i, (row, y) in enumerate(zip(rows, target, strict=True)):
            cells = dict(zip(COLUMNS, row, strict=True))
            cells["sex"] = "female" if cells["sex"] == "1" else "male"
            if i % 9 == 0:
                cells["bmi"] = ""
            if i % 13 == 0:
                cells["bp"] = "NA"
            clinic = CLINICS[int(float(cells["age"])) // 10 % 4] if i % 17 != 5 else ""
            writer.writerow([*(cells[c] for c in COLUMNS), clinic, round(float(y) * 1000)])
    return path


if __name__ == "__main__":
    print(write_diabetes_csv(sys.argv[1] if len(sys.argv) > 1 else "diabetes.csv"))
