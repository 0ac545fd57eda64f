import json

import pytest

from kino_backend.benchmarks import keying


@pytest.mark.slow
def test_bench_keying_kino_side_runs_and_scores(capsys, footage):
    rc = keying.main(["--skip-blender", "--size", "128", "--real-frames", "1", "--json", "--footage", footage])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    syn = result["synthetic"]["kino"]
    assert 0 < syn["matte_mae"] <= 0.015 and syn["psnr_db"] >= 34
    assert result["synthetic_even_screen"]["uneven_screen"] is False
    assert result["real"]["kino"]["body_mean"] > 0.9 and result["real"]["kino"]["corners_mean"] < 0.05
    assert "psnr_gain>=2" not in result["targets"]  # no Blender side, no comparison claimed
