#!/usr/bin/env python3
"""The Python side of `voicestyle-bench align --python`: pSp's per-photo work (scripts/align_all_parallel.py:
`get_landmark` with dlib, then `align_face` with Pillow + NumPy + SciPy), timed per stage on the same photos.

Needs numpy, scipy, Pillow and dlib (`pip install dlib-bin` gives a prebuilt dlib). Prints one JSON object:
per stage the total seconds over all photos. Usage: bench_align_psp.py PHOTO... [--sizes 256,1024]
"""
import json
import sys
import time

import numpy as np
import PIL.Image
import scipy.ndimage
import dlib

PREDICTOR = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"


def align(img, lm, output_size, transform_size):
    """pSp align_face from the landmarks on: oriented quad, shrink, crop, pad + blur, quad transform, resize."""
    eye_left, eye_right = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eye_avg, eye_to_eye = (eye_left + eye_right) * 0.5, eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    qsize = np.hypot(*x) * 2
    shrink = int(np.floor(qsize / output_size * 0.5))
    if shrink > 1:
        img = img.resize((int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink))), PIL.Image.LANCZOS)
        quad /= shrink
        qsize /= shrink
    border = max(int(np.rint(qsize * 0.1)), 3)
    crop = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))), int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    crop = (max(crop[0] - border, 0), max(crop[1] - border, 0), min(crop[2] + border, img.size[0]), min(crop[3] + border, img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[0:2]
    pad = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))), int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    pad = (max(-pad[0] + border, 0), max(-pad[1] + border, 0), max(pad[2] - img.size[0] + border, 0), max(pad[3] - img.size[1] + border, 0))
    if max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        img = np.pad(np.float32(img), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
        h, w, _ = img.shape
        yy, xx, _ = np.ogrid[:h, :w, :1]
        mask = np.maximum(1.0 - np.minimum(np.float32(xx) / pad[0], np.float32(w - 1 - xx) / pad[2]),
                          1.0 - np.minimum(np.float32(yy) / pad[1], np.float32(h - 1 - yy) / pad[3]))
        blur = qsize * 0.02
        img += (scipy.ndimage.gaussian_filter(img, [blur, blur, 0]) - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        img += (np.median(img, axis=(0, 1)) - img) * np.clip(mask, 0.0, 1.0)
        img = PIL.Image.fromarray(np.uint8(np.clip(np.rint(img), 0, 255)), "RGB")
        quad += pad[:2]
    img = img.transform((transform_size, transform_size), PIL.Image.QUAD, (quad + 0.5).flatten(), PIL.Image.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), PIL.Image.LANCZOS)
    return img


def main():
    args = sys.argv[1:]
    sizes = [256, 1024]
    if "--sizes" in args:
        i = args.index("--sizes")
        sizes = [int(s) for s in args[i + 1].split(",")]
        del args[i:i + 2]
    detector = dlib.get_frontal_face_detector()
    predictor = PREDICTOR and dlib.shape_predictor(PREDICTOR)
    totals = {"decode": 0.0, "detect": 0.0, "landmarks": 0.0}
    for s in sizes:
        totals[f"align{s}"] = 0.0
    faces = 0
    for f in args:
        t = time.perf_counter()
        img = dlib.load_rgb_image(f)
        totals["decode"] += time.perf_counter() - t
        t = time.perf_counter()
        dets = detector(img, 1)
        totals["detect"] += time.perf_counter() - t
        if len(dets) == 0:
            continue
        t = time.perf_counter()
        shape = predictor(img, dets[len(dets) - 1])
        lm = np.array([[p.x, p.y] for p in shape.parts()])
        totals["landmarks"] += time.perf_counter() - t
        faces += 1
        for s in sizes:
            t = time.perf_counter()
            align(PIL.Image.open(f), lm.copy(), s, 256 if s == 256 else 4096)
            totals[f"align{s}"] += time.perf_counter() - t
    print(json.dumps({"photos": len(args), "faces": faces, "seconds": totals, "dlib": dlib.__version__}))


if __name__ == "__main__":
    main()
