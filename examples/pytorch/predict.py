"""Loads the CNN train.py saved and predicts the shapes of new synthetic images:
  predict.py [--samples N] [--seed S]   N images printed with their truth, then the accuracy
                                        on 1,000 held-out images
  predict.py --serve PORT               HTTP: GET /predict?seed=S answers a JSON prediction
The image's ENTRYPOINT; CMD gives --samples 8."""
import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import torch

import model
import shapes

parser = argparse.ArgumentParser()
parser.add_argument("--samples", type=int, default=8)
parser.add_argument("--seed", type=int, default=7)
parser.add_argument("--serve", type=int, metavar="PORT")
args = parser.parse_args()

torch.set_num_threads(1)
net = model.cnn()
net.load_state_dict(torch.load(os.environ["MODEL_PATH"]))
net.eval()


def predict(images):
    with torch.no_grad():
        probs = torch.softmax(net(images), dim=1)
    return probs.argmax(1), probs.max(1).values


if args.serve:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            if url.path != "/predict":
                self.send_error(404)
                return
            seed = int(parse_qs(url.query).get("seed", ["0"])[0])
            images, labels = shapes.make(1, seed)
            label, p = predict(images)
            body = json.dumps({"seed": seed, "predicted": shapes.CLASSES[int(label[0])],
                               "probability": round(float(p[0]), 3),
                               "truth": shapes.CLASSES[int(labels[0])]}) + "\n"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

    print(f"serving on port {args.serve}: GET /predict?seed=N", flush=True)
    HTTPServer(("", args.serve), Handler).serve_forever()

print(f"loaded {os.environ['MODEL_PATH']}")
images, labels = shapes.make(args.samples, args.seed)
predicted, prob = predict(images)
for i in range(args.samples):
    guess, truth = shapes.CLASSES[int(predicted[i])], shapes.CLASSES[int(labels[i])]
    mark = "" if guess == truth else "  <- wrong"
    print(f"sample {i}: predicted {guess:<14} ({float(prob[i]):.2f})  truth {truth}{mark}")
images, labels = shapes.make(1000, seed=1000)
predicted, _ = predict(images)
print(f"accuracy on 1000 held-out images: {float((predicted == labels).float().mean()):.3f}")
