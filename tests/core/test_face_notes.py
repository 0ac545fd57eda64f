"""The end-of-run note for FaceID frames without a face (it was silent: only kino.json had the list)."""
from kino_addon.core.face_notes import faceid_note


def prov(missing):
    return {"stages": {"diffusion": {"faceid": {"frames_without_face": missing, "scale": 0.7}}}}


def test_no_note_without_faceid_or_when_every_frame_had_a_face():
    assert faceid_note({}, 10) is None
    assert faceid_note({"stages": {"diffusion": {"faceid": None}}}, 10) is None
    assert faceid_note(prov([]), 10) is None


def test_some_frames_without_a_face_are_listed():
    text = faceid_note(prov(list(range(3, 15))), 40)
    assert text.startswith("FaceID found no face in 12 of 40 frames (3, 4, 5, 6, 7, 8, 9, 10 and 4 more)")


def test_no_face_anywhere_says_what_to_do():
    text = faceid_note(prov([1, 2, 3, 4]), 4)
    assert "no face in any of the 4 frames" in text and "face_reference=IMAGE" in text
