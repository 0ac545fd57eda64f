"""``make demo``: stylize a clip the project makes itself and leave something a person can look at.

1. Draws ``demo_out/input/frame_0001.png ...``: a figure walking and waving in front of a green
   screen with tracking marks, filmed by a hand-held camera (smooth random shake and a little roll).
2. Runs ``scripts/kino stylize demo_out/input --look toon --out demo_out/toon
   --blend demo_out/kino_demo.blend`` (Blender headless, the real add-on and backend).
3. Writes ``demo_out/toon.mp4`` (source | result side by side) and ``demo_out/contact_sheet.png``.

Run with the backend environment's Python (numpy + OpenCV): ``.venv-backend/bin/python scripts/demo.py``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W, H = 320, 240


def camera_shake(count: int, seed: int = 7) -> np.ndarray:
    """Smooth hand-held motion: (dx, dy, roll degrees) per frame."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0, 1, (count + 8, 3))
    kernel = np.ones(5) / 5
    smooth = np.stack([np.convolve(raw[:, i], kernel, mode="same") for i in range(3)], axis=1)[4:count + 4]
    return smooth * np.array([6.0, 4.0, 0.8])


def draw_set(width: int, height: int) -> np.ndarray:
    """A wider-than-frame green screen with tracking crosses and a floor, BGR."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = (60, 185, 40)
    img[int(height * 0.78):] = (70, 90, 105)
    for x in range(30, width, 70):
        for y in range(25, int(height * 0.7), 60):
            cv2.line(img, (x - 6, y), (x + 6, y), (230, 230, 230), 2)
            cv2.line(img, (x, y - 6), (x, y + 6), (230, 230, 230), 2)
    return img


def draw_figure(img: np.ndarray, t: float, cx: float, floor: int) -> None:
    """A simple actor: head, torso, swinging arms and legs."""
    swing = np.sin(t * 2 * np.pi * 1.5)
    hip = (int(cx), floor - 60)
    neck = (int(cx), floor - 115)
    cv2.line(img, hip, neck, (60, 40, 150), 18)  # torso
    for sign in (-1, 1):
        foot = (int(cx + sign * 18 * swing), floor - 5)
        cv2.line(img, hip, foot, (90, 60, 40), 10)
        hand = (int(cx + sign * 30), int(floor - 95 - 25 * (swing if sign > 0 else -swing)))
        cv2.line(img, neck, hand, (60, 40, 150), 8)
    cv2.circle(img, (int(cx), floor - 135), 17, (150, 180, 230), -1)  # face
    cv2.circle(img, (int(cx) - 6, floor - 139), 3, (30, 30, 30), -1)
    cv2.circle(img, (int(cx) + 6, floor - 139), 3, (30, 30, 30), -1)


def make_input(folder: str, count: int = 48) -> None:
    os.makedirs(folder, exist_ok=True)
    stage = draw_set(W + 80, H + 60)
    shake = camera_shake(count)
    for i in range(count):
        frame = stage.copy()
        draw_figure(frame, i / 24.0, 90 + i * 4.0, int((H + 60) * 0.8))
        dx, dy, roll = shake[i]
        m = cv2.getRotationMatrix2D(((W + 80) / 2, (H + 60) / 2), roll, 1.0)
        m[:, 2] += (-40 + dx, -30 + dy)
        shot = cv2.warpAffine(frame, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        cv2.imwrite(os.path.join(folder, f"frame_{i + 1:04d}.png"), shot)


def read_frames(folder: str) -> list:
    names = sorted(n for n in os.listdir(folder) if n.startswith("frame_") and n.endswith(".png"))
    return [cv2.imread(os.path.join(folder, n)) for n in names]


def write_outputs(src: list, out: list, out_dir: str) -> tuple:
    video = os.path.join(out_dir, "toon.mp4")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 24, (W * 2, H))
    for a, b in zip(src, out):
        writer.write(np.hstack([a, b]))
    writer.release()
    picks = np.linspace(0, len(out) - 1, 6).round().astype(int)
    rows = [np.hstack([src[i] for i in picks]), np.hstack([out[i] for i in picks])]
    sheet = np.vstack(rows)
    cv2.putText(sheet, "source", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    cv2.putText(sheet, "toon", (6, H + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    contact = os.path.join(out_dir, "contact_sheet.png")
    cv2.imwrite(contact, sheet)
    return video, contact


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Kino demo")
    p.add_argument("--out", default=os.path.join(ROOT, "demo_out"))
    p.add_argument("--look", default="toon")
    p.add_argument("--frames", type=int, default=48)
    args = p.parse_args(argv)
    out_dir = os.path.abspath(args.out)
    src_dir, res_dir = os.path.join(out_dir, "input"), os.path.join(out_dir, args.look)
    make_input(src_dir, args.frames)
    print(f"demo: input frames in {src_dir}")
    cmd = [os.path.join(ROOT, "scripts", "kino"), "stylize", src_dir, "--look", args.look, "--out", res_dir,
           "--blend", os.path.join(out_dir, "kino_demo.blend")]
    print("demo: " + " ".join(cmd))
    rc = subprocess.run(cmd).returncode
    if rc != 0:
        print(f"demo: scripts/kino stylize failed (exit {rc})", file=sys.stderr)
        return rc
    video, contact = write_outputs(read_frames(src_dir), read_frames(res_dir), out_dir)
    print(f"demo: stylized frames   {res_dir}")
    print(f"demo: Blender scene     {os.path.join(out_dir, 'kino_demo.blend')}")
    print(f"demo: video (src|toon)  {video}")
    print(f"demo: contact sheet     {contact}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
