"""Animation timing: the clip's own frame numbers for a job (``numbers``), holds ("on twos") and
rendering at a lower rate with the rest filled in (``anchors``)."""
from .numbers import ClipNumbers
from .schedule import Timing

__all__ = ["ClipNumbers", "Timing"]
