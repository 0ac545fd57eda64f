"""Every message type of the wire, one constant each (see docs/protocol.md for the bodies).

A type is ``noun.verb``. Requests are answered by exactly one response of the same type whose ``re``
is the request's ``id``; events carry in ``re`` the id of the ``job.submit`` that started their job.
Use these names instead of string literals: a typo then fails at import, not silently on the wire.
"""
from __future__ import annotations

# --- Requests (client -> backend) --------------------------------------------------------------

#: Opens a session: ``{protocol: [1, 0], client}`` -> the backend's version, devices, looks, stages.
#: Any other request before it is answered ``HELLO_REQUIRED``.
SESSION_HELLO = "session.hello"
#: Asks the backend to exit after answering ``{ok}``.
SESSION_SHUTDOWN = "session.shutdown"
#: Queues a job: ``{workflow, frames, options}`` -> ``{job_id, queue_position}`` or ``INVALID_PARAMS``.
JOB_SUBMIT = "job.submit"
#: One input frame of a queued job, ``{job_id, frame}`` with the frame as its one buffer.
JOB_INPUT = "job.input"
#: Stops a job: ``{job_id}`` -> ``{ok}``; the job still ends with its one ``job.done``.
JOB_CANCEL = "job.cancel"
#: The backend's state: ``{}`` -> ``{jobs, devices, models_loaded}``.
BACKEND_STATUS = "backend.status"
#: The models a folder holds: ``{models_dir?, kind?, arch?, hf_cache?}`` -> ``{models_dir, models: [...]}``.
MODELS_LIST = "models.list"
#: The actor's face on a few frames sent as buffers (raw RGB, one size): ``{min_confidence?}`` ->
#: ``{region: [x, y, w, h], score, found_in, count, size, people}`` in pixels of the frames sent, or ``NO_FACE``.
FACE_FIND = "face.find"

#: Every request type a backend answers.
REQUESTS = (SESSION_HELLO, SESSION_SHUTDOWN, JOB_SUBMIT, JOB_INPUT, JOB_CANCEL, BACKEND_STATUS, MODELS_LIST,
            FACE_FIND)

# --- Events (backend -> client, unrequested) -----------------------------------------------------

#: ``{job_id, frame, frames_total, step, steps_total, stage}``, at most about ten a second.
JOB_PROGRESS = "job.progress"
#: One finished frame, ``{job_id, frame, ...meta}`` with the 8-bit image (RGB or RGBA) as its buffers.
JOB_FRAME = "job.frame"
#: Exactly one per job: ``{job_id, status, frames_done, error?, provenance}``.
JOB_DONE = "job.done"

#: Every event type a backend sends.
EVENTS = (JOB_PROGRESS, JOB_FRAME, JOB_DONE)

# --- Responses that answer no known request ------------------------------------------------------

#: The type of the error response to a message too broken to know its type (bad JSON, bad envelope).
ERROR_BAD_MESSAGE = "error.bad_message"

#: Hidden request of the protocol benchmark: answers with the buffers it was sent (a round trip).
DEBUG_ECHO = "debug.echo"
