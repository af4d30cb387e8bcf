#!/usr/bin/python3
"""Trains the model-server's sample model and its test models: XGBoost on datasets bundled
with scikit-learn (no download, no network).

Run from this directory with Debian bookworm's packages:

    apt-get install -y python3-xgboost python3-sklearn
    /usr/bin/python3 train.py

Training is deterministic (exact tree method, one thread, fixed split and seed). For each model
it writes, in XGBoost's binary format (a name without .json or .ubj selects it):
  <name>.xgb           the model
  <name>.features      its feature names, one a line, in column order
  <name>.golden.json   rows and what XGBoost itself predicted for them: the Go tests' oracle

  sample/iris             multi:softprob, 3 classes: the model the server embeds
  ../testdata/breast_cancer  binary:logistic (base_score becomes a margin on load)
  ../testdata/diabetes       reg:squarederror
"""

import json
import math
import platform

import numpy as np
import sklearn
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.model_selection import train_test_split

COMMON = {"max_depth": 3, "eta": 0.3, "tree_method": "exact", "nthread": 1, "seed": 0}


def main():
    iris = load_iris()
    train(
        "iris",
        iris,
        ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        {"objective": "multi:softprob", "num_class": 3},
        rounds=20,
        stratify=True,
    )
    cancer = load_breast_cancer()
    train(
        "../testdata/breast_cancer",
        cancer,
        [n.replace(" ", "_") for n in cancer.feature_names],
        {"objective": "binary:logistic"},
        rounds=10,
        stratify=True,
    )
    diabetes = load_diabetes()
    train(
        "../testdata/diabetes",
        diabetes,
        list(diabetes.feature_names),
        {"objective": "reg:squarederror"},
        rounds=10,
        stratify=False,
    )


def train(name, dataset, features, objective, rounds, stratify):
    params = dict(objective, **COMMON)
    X = dataset.data.astype(np.float32)
    y = dataset.target
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0, stratify=y if stratify else None
    )
    booster = xgb.train(params, xgb.DMatrix(X_train, label=y_train, feature_names=features), rounds)
    booster.save_model(name + ".xgb")
    with open(name + ".features", "w") as f:
        f.write("".join(n + "\n" for n in features))

    # The oracle rows: the held-out test set, plus two rows that hit the cases where a Go
    # reimplementation can drift from XGBoost: missing values (NaN takes each split's
    # default branch) and values exactly equal to split thresholds (XGBoost goes left only
    # when value < threshold).
    thresholds = root_thresholds(booster, features)
    missing = X_test[0].copy()
    missing[1::2] = math.nan
    at_thresholds = np.array([thresholds.get(i, X_test[1][i]) for i in range(len(features))])
    rows = np.vstack([X_test, missing, at_thresholds]).astype(np.float32)
    predictions = booster.predict(xgb.DMatrix(rows, feature_names=features))
    predictions = predictions.reshape(len(rows), -1)

    golden = {
        "trainer": {
            "python": platform.python_version(),
            "xgboost": xgb.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "dataset": dataset.DESCR.splitlines()[2].strip(" *:."),
        "params": params,
        "rounds": rounds,
        "features": features,
        # null stands for NaN (missing), which JSON cannot spell; str() gives a float32's
        # shortest decimal, which reads back to the same float32.
        "rows": [[None if math.isnan(v) else float(str(v)) for v in row] for row in rows],
        "labels": [y.item() for y in y_test] + [None, None],
        "predictions": [[p.item() for p in row] for row in predictions],
    }
    if params["objective"].startswith("multi:"):
        golden["classes"] = [str(c) for c in dataset.target_names]
        golden["test_accuracy"] = float((predictions[: len(y_test)].argmax(axis=1) == y_test).mean())
    with open(name + ".golden.json", "w") as f:
        f.write(dump_one_row_a_line(golden))
    print(f"{name}: {params['objective']}, {len(features)} features, {len(y_test)} held-out rows")


def dump_one_row_a_line(golden):
    """JSON with each key on its line and each row or prediction on one line."""
    lines = []
    for key, value in golden.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            rows = ",\n  ".join(json.dumps(row) for row in value)
            lines.append(f" {json.dumps(key)}: [\n  {rows}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def root_thresholds(booster, features):
    """The split value of each feature at the first tree whose root splits on it."""
    found = {}
    for tree in booster.get_dump(dump_format="json"):
        root = json.loads(tree)
        if "split" in root:
            i = features.index(root["split"])
            found.setdefault(i, float(np.float32(root["split_condition"])))
    return found


if __name__ == "__main__":
    main()
