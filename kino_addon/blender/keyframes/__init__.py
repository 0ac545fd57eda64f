"""Painted keyframes: export a strip's frames for painting, mark the painted folder (or an image strip
of painted frames) as the strip's keyframes, set up the keyframes look's jobs (``job``), and the
"Painted Keyframes" panel with the fill and the frames to paint next (``panel``)."""
