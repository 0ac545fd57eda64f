"""Issue 12 items 1 and 10 end to end through ``scripts/kino stylize``: a job that fails before its first
frame prints its stage's own message; a --param typo is told in the user's words with the closest key."""
import os
import subprocess

from kino_media import REPO, write_sequence


def kino(*args, timeout=300):
    return subprocess.run([str(REPO / "scripts" / "kino"), "stylize", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def test_diffusion_without_a_model_says_it_needs_a_checkpoint(tmp_path):
    write_sequence(tmp_path / "seq", 3)
    for extra, want in [((), "needs a checkpoint: set model=PATH"),
                        (("--param", f"model={tmp_path / 'nope.safetensors'}"), "checkpoint not found")]:
        run = kino(tmp_path / "seq", "--look", "diffusion", "--frames", "1:3", *extra, "--out", tmp_path / "out")
        assert run.returncode != 0
        last = run.stderr.strip().splitlines()[-1]
        assert want in last and "[MODEL_MISSING]" in last, last
        assert "no queued or running job" not in run.stderr and "Traceback" not in run.stderr


def test_a_param_typo_suggests_the_closest_key_and_lists_only_this_looks_keys(tmp_path):
    write_sequence(tmp_path / "seq", 2)
    run = kino(tmp_path / "seq", "--look", "toon", "--param", "edge_thiknes=3", "--out", tmp_path / "out")
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("kino stylize: unknown parameter 'edge_thiknes' for look 'toon': did you mean "
                           "'edge_thickness'?"), last
    assert "train_lora." not in last and "key.key_color" not in last and "temporal.strength" in last


def test_a_blend_path_that_cannot_be_written_is_refused_before_the_job(tmp_path):
    """It was found after the whole job had run, with Blender's own message ("... for writing", or
    "File exists" for a parent that is a file)."""
    write_sequence(tmp_path / "seq", 2)
    (tmp_path / "file").write_text("x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        cases = [(tmp_path / "file" / "a.blend", "is a file, not a folder"), (tmp_path / "x.txt", "must name a .blend")]
        if os.geteuid() != 0:  # root writes into a read-only folder all the same
            cases.append((ro / "a.blend", "cannot be written"))
        for blend, want in cases:
            run = kino(tmp_path / "seq", "--look", "none", "--out", tmp_path / "out", "--blend", blend)
            last = run.stderr.strip().splitlines()[-1]
            assert run.returncode == 2 and want in last and "Traceback" not in run.stderr, last
            assert not (tmp_path / "out").exists()  # nothing ran
    finally:
        ro.chmod(0o755)
