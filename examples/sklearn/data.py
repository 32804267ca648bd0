"""The synthetic data set train.py and inference.py share: fixed seeds, so the same rows
every time, split into a training set and a held-out test set."""
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

SEED = 42


def load():
    """Returns X_train, X_test, y_train, y_test."""
    X, y = make_classification(n_samples=1000, n_features=20, n_informative=6,
                               n_redundant=2, n_classes=3, class_sep=2.0,
                               random_state=SEED)
    return train_test_split(X, y, test_size=0.2, random_state=SEED)
