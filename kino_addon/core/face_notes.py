"""After a job with FaceID (``faceid=``, ``face_reference=frame``): which frames had no face to steer by,
from the job's provenance (``stages.diffusion.faceid.frames_without_face``), in the user's words."""
from __future__ import annotations


def faceid_note(provenance: dict, frames_total: int) -> str | None:
    face = ((((provenance or {}).get("stages") or {}).get("diffusion") or {}).get("faceid") or {})
    missing = [int(n) for n in face.get("frames_without_face") or []]
    if not missing:
        return None
    shown = ", ".join(map(str, missing[:8])) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    if frames_total and len(missing) >= frames_total:
        return (f"FaceID found no face in any of the {frames_total} frames, so none was steered to the actor's "
                "face: check that the face is visible and large enough, or give face_reference=IMAGE (a photo "
                "of the actor)")
    return (f"FaceID found no face in {len(missing)} of {frames_total} frames ({shown}); each kept the last face "
            "found before it (frames before the first face were not steered)")
