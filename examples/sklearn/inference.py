"""Loads the model train.py saved and prints its predictions on the held-out test set beside
the truth. The image's CMD."""
import os

import joblib

import data

model_path = os.path.join(os.environ["MODEL_DIR"], os.environ["MODEL_FILE"])
clf = joblib.load(model_path)
print(f"loaded {model_path}")

X_train, X_test, y_train, y_test = data.load()
predicted = clf.predict(X_test)
print("sample  predicted  truth")
for i, (p, t) in enumerate(zip(predicted[:10], y_test[:10])):
    print(f"{i:6d}  {p:9d}  {t:5d}{'' if p == t else '  <- wrong'}")
correct = int((predicted == y_test).sum())
print(f"accuracy on {len(y_test)} held-out samples: {correct / len(y_test):.3f} ({correct} correct)")
