"""Fits a gradient boosting classifier on the training set and saves it to
$MODEL_DIR/$MODEL_FILE. Run at build time (RUN python3 train.py)."""
import os

import joblib
from sklearn.ensemble import GradientBoostingClassifier

import data

model_dir = os.environ["MODEL_DIR"]
model_path = os.path.join(model_dir, os.environ["MODEL_FILE"])

X_train, X_test, y_train, y_test = data.load()
clf = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=data.SEED)
clf.fit(X_train, y_train)
print(f"trained on {len(X_train)} samples, training accuracy {clf.score(X_train, y_train):.3f}")

os.makedirs(model_dir, exist_ok=True)
joblib.dump(clf, model_path)
print(f"saved {model_path}")
