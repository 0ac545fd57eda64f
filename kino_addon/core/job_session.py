"""``JobSession``: one backend job driven over a ``BackendClient``, one small step at a time.

It is the backend part of every long operation (``job_queue.QueuedJob``): stylizing a strip, training a
LoRA, each layer of a composite. The same object serves both paths: the headless path (``scripts/kino``, tests) loops ``step()``
until it returns True; the UI path calls ``step()`` from one timer on Blender's main thread, so every
file write and strip change happens there. A step sends at most one frame (keeping at most
``max_in_flight`` frames queued at the backend, so ``send_frame`` never blocks for long) and applies
every event that has arrived: ``job.frame`` -> an atomic PNG write, ``job.progress`` -> the progress
line, ``job.done`` -> ``kino.json`` and the end state.

Resume: frames already valid on disk are not sent; the job gets only the missing ones, numbered
1..M, and job frame k is written as output ``todo[k-1]``. Backend death ends the job with a clear
error and keeps every finished frame, so the next run resumes.
"""
from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..protocol import messages
from ..protocol.errors import BAD_MESSAGE, CANCELLED, DISCONNECTED, NOT_FOUND, TIMEOUT, BackendError
from . import job_checkpoint as resume
from . import previous_result
from .frame_files import OutputFolderError, clear_partial, make_output_folder
from .plan import FRAME_PATTERN, existing_frames, frame_path, missing_frames

SUBMIT_TIMEOUT_S = 60.0  # job.submit is answered once the workflow is checked: seconds, not minutes
from .png import decode_png
from .processes import page_faults, peak_rss_mb
from .sidecar import SIDECAR, build_sidecar, effective_status, read_sidecar, write_sidecar
from .writer import FrameWriter

TERMINAL = ("completed", "cancelled", "failed", "interrupted")
SIDECAR_EVERY_S = 5.0  # while frames land, kino.json is rewritten at most this often (frames.done)


class SourceError(RuntimeError):
    """A source frame could not be read; the message says which frame and why."""


@dataclass
class JobSpec:
    """What one backend job makes and from what: its output folder, frame count and size, workflow and
    options, and what goes into its ``kino.json`` (source, reproduce command, versions)."""

    folder: str
    count: int  # output frames 1..count
    width: int
    height: int
    workflow: dict
    options: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)  # what the frames came from (kino.json "source")
    first_timeline_frame: int = 1
    command: str = ""
    versions: dict = field(default_factory=dict)
    settings_hash: str = ""  # frames on disk from other settings (another hash) are not reused
    resume_hint: str = "run Stylize again to resume"  # how the user resumes, said when a job fails


class JobSession:
    """One backend job. States: new -> running -> (cancelling ->) completed | cancelled | failed.

    State: ``todo`` (output numbers still missing, sent as job frames 1..M), ``sent``/``written``/
    ``reused`` counts, ``job_id``, ``stage`` (the stage the backend reports), ``provenance`` (from
    ``job.done``), ``error``; the writer thread (``FrameWriter``) holds frames not yet on disk.

    Pacing: at most ``max_in_flight`` frames wait at the backend; after ``stall`` seconds without an
    event one more is sent (a stage may hold frames back for look-ahead). Stall check: ``alive()``
    false ends the job as failed; a cancel unanswered for ``cancel_grace`` seconds ends it as cancelled.
    """

    def __init__(self, client, spec: JobSpec, read_frame: Callable[[int], np.ndarray], *,
                 alive: Optional[Callable[[], bool]] = None, max_in_flight: int = 4, poll: float = 0.05,
                 cancel_grace: float = 15.0, stall: float = 0.5, send_timeout: float = 20.0):
        self.client = client
        self.spec = spec
        self.read_frame = read_frame  # output number -> uint8 (h, w, 3)
        self.alive = alive
        self.max_in_flight = max(1, max_in_flight)
        self.poll = poll
        self.cancel_grace = cancel_grace
        self.stall = stall
        self.send_timeout = send_timeout
        self.state = "new"
        self.error: Optional[str] = None
        self.stage = ""
        self.job_id: Optional[str] = None
        self.todo: list = []
        self.reused = 0
        self.written = 0
        self.sent = 0
        self.provenance: dict = {}
        self.skip: set = set()
        self.keeper: Optional[resume.Keeper] = None
        self.latest: Optional[resume.Checkpoint] = None
        self.independent: Optional[bool] = None  # frames computed on their own (from the backend's checkpoints)
        self.interrupted = False  # a signal (Ctrl-C) asked to stop: ends as "interrupted"
        self.notice = ""  # something the user should know (e.g. the previous run was killed)
        self._made_folder = False
        self.cluster: dict = {}  # {workers, frames_per_s} while the job runs on a cluster
        self._cancel_at: Optional[float] = None
        self._last_event = time.monotonic()
        self.writer = FrameWriter(spec.folder)
        self._alphas: dict = {}  # output number -> a transparent source frame's alpha (zlib), until written
        self.alpha_frames = 0  # frames whose source was transparent (their results carry its alpha)
        self.seconds = {"extract": 0.0, "send": 0.0}  # this side's time per part (kino.json "timings")
        self._started_at: Optional[float] = None
        self._faults_at_start = 0
        self._sidecar_at = 0.0  # when kino.json was last written

    # -- progress --------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    @property
    def frames_on_disk(self) -> int:
        return self.reused + self.written

    def progress_text(self) -> str:
        stage = f", {self.stage}" if self.stage and not self.done else ""
        return f"frame {min(self.frames_on_disk + (0 if self.done else 1), self.spec.count)} of {self.spec.count}{stage}"

    @property
    def fraction(self) -> float:
        return self.frames_on_disk / self.spec.count if self.spec.count else 1.0

    # -- control ---------------------------------------------------------------------------------
    def start(self) -> None:
        spec = self.spec
        old = read_sidecar(spec.folder)
        if effective_status(old) == "interrupted":
            self.notice = "the previous run of this folder was interrupted; continuing from its finished frames"
        elif effective_status(old) == "running" and (old.get("process") or {}).get("pid") not in (None, os.getpid()):
            self.error = (f"another Kino run (process {old['process']['pid']}) is writing {spec.folder}; wait for "
                          "it to finish or stop it, or pick another folder")
            self.state = "failed"
            return
        self._made_folder = not os.path.isdir(spec.folder)
        try:
            make_output_folder(spec.folder)
        except OutputFolderError as exc:
            self.error, self.state = str(exc), "failed"
            return
        clear_partial(spec.folder)
        previous_result.settle(spec.folder)  # a killed run's predecessor
        self._set_aside_stale_frames()
        missing = missing_frames(spec.folder, spec.count, spec.width, spec.height)
        self.reused = spec.count - len(missing)
        side = read_sidecar(spec.folder) or {}
        if side.get("settings_hash") == spec.settings_hash:
            self.independent = side.get("frames_independent")
        if not missing:
            self.provenance = (read_sidecar(spec.folder) or {}).get("provenance", {})
            self._finish("completed")
            return
        start = self._plan(missing)
        options = dict(options_for_frames(spec.options, self.todo, spec.count), checkpoints=1,
                       checkpoint_every_s=resume.SAVE_INTERVAL_S)  # no more than are kept
        if start is not None:
            options["resume_state"] = start.desc
        try:
            self.job_id = self.client.submit_job(spec.workflow, len(self.todo), spec.width, spec.height,
                                                 options, state=start.buffers if start else (),
                                                 timeout=SUBMIT_TIMEOUT_S)
        except BackendError as exc:
            self._fail(_describe(exc), kept_note=self.reused > 0)
            return
        self.state = "running"
        self._started_at, self._faults_at_start = time.perf_counter(), page_faults()
        self._last_event = time.monotonic()
        self._write_sidecar("running")  # records the settings hash before any frame lands

    def _plan(self, missing: list):
        """Which output frames the job carries (``todo``), which of them are on disk already (``skip``:
        computed again only for the temporal state), and the checkpoint to start from (``resume``)."""
        spec = self.spec
        meta = {"settings_hash": spec.settings_hash, "backend": str(spec.versions.get("backend") or ""),
                "count": spec.count}
        self.keeper = resume.Keeper(spec.folder, **meta)
        if spec.options.get("resume") == "whole":  # each frame depends on the others (holds, in-betweens,
            self.todo, self.reused = list(range(1, spec.count + 1)), 0  # painted keyframes): all again
            return None
        self.todo, start = resume.plan(missing, spec.count, resume.load(spec.folder, **meta), self.independent is True)
        self.skip = set(self.todo) - set(missing)
        return start

    def _set_aside_stale_frames(self) -> None:
        """Frames made with other settings are replaced, but kept aside until this run has made a frame
        (``core.previous_result``): a run that fails at once does not cost the earlier result. Frames
        without a readable ``kino.json`` (Kino writes it before the first frame) were made with unknown
        settings: they are replaced too (they were reused whatever the look)."""
        old = read_sidecar(self.spec.folder)
        if not self.spec.settings_hash or (old or {}).get("settings_hash") == self.spec.settings_hash:
            return
        if old is None and not existing_frames(self.spec.folder):
            return
        previous_result.set_aside(self.spec.folder)
        resume.clear(self.spec.folder)

    def interrupt(self) -> None:
        """Like ``cancel`` (finished frames stay), on a signal: the session ends as "interrupted"."""
        self.interrupted = True
        self.cancel_grace = min(self.cancel_grace, 5.0)
        self.cancel()

    def cancel(self) -> None:
        """Ask the backend to stop; finished frames stay. The session ends at the job's job.done."""
        if self.state == "new":
            self._finish("cancelled")
        if self.state != "running":
            return
        self.state = "cancelling"
        self._cancel_at = time.monotonic()
        try:
            self.client.cancel(self.job_id, timeout=self.send_timeout)
        except BackendError:
            self._finish("cancelled")

    def step(self) -> bool:
        """Send at most one frame, apply the events that arrived; True once the job has ended."""
        if self.state == "new":
            self.start()
        if self.done:
            return True
        try:
            sent = self._send_one()
            self._drain(0.0 if sent else self.poll)
            self._collect()
        except BackendError as exc:
            self._fail_after_events(exc)
        except SourceError as exc:
            self._abort(str(exc))
        if not self.done:
            self._check_stuck()
        return self.done

    def run(self, on_step: Optional[Callable[["JobSession"], None]] = None) -> str:
        """Synchronous path: step until the end; returns the final state."""
        while not self.step():
            if on_step:
                on_step(self)
        return self.state

    # -- internals -------------------------------------------------------------------------------
    def _send_one(self) -> bool:
        if self.state != "running" or self.sent >= len(self.todo):
            return False
        if self.sent - self.written >= self.max_in_flight:
            if time.monotonic() - self._last_event < self.stall:
                return False  # enough queued at the backend
            self._last_event = time.monotonic()  # silence: a stage may buffer look-ahead frames, feed one more
        number = self.todo[self.sent]
        t0 = time.perf_counter()
        image = np.asarray(self.read_frame(number), dtype=np.uint8)
        t1 = time.perf_counter()
        self.seconds["extract"] += t1 - t0
        want = (self.spec.height, self.spec.width, 3)
        if image.shape[:2] != want[:2] or image.ndim != 3 or image.shape[2] not in (3, 4):
            raise SourceError(f"source frame {number} is {image.shape[1]}x{image.shape[0]}, expected "
                              f"{want[1]}x{want[0]}; the strip's size changed during the job")
        if image.shape[2] == 4:  # a transparent source: the look gets the colour, the result its alpha
            # kept compressed: a cluster job sends every frame before the first result comes back
            self._alphas[number] = zlib.compress(np.ascontiguousarray(image[..., 3]).tobytes(), 1)
            self.alpha_frames += 1
        image = np.ascontiguousarray(image[..., :3])
        try:
            self.client.send_frame(self.job_id, self.sent + 1, memoryview(image).cast("B"), shape=want,
                                   timeout=self.send_timeout)
        except BackendError as exc:
            if exc.code != TIMEOUT:
                raise
            self._backend_still_answers()  # the frame is queued; only its answer is held back
        self.seconds["send"] += time.perf_counter() - t1
        self.sent += 1
        return True

    def _backend_still_answers(self) -> None:
        """A frame's answer did not come within ``send_timeout``: a backend that holds it back while its
        input is full (the job waits behind another client's) still answers a status request; a stuck
        one (stopped, its machine frozen) does not, and the job ends instead of freezing Blender."""
        try:
            self.client.request(messages.BACKEND_STATUS, {}, timeout=self.send_timeout)
        except BackendError as exc:
            if exc.code != TIMEOUT:
                raise
            raise BackendError(TIMEOUT, f"the backend has not answered for {2 * self.send_timeout:g} s: it is "
                               "stuck (or its machine is). Press Stop Backend, then run the job again: the "
                               "finished frames are kept and only the missing ones are made") from None

    def _drain(self, wait: float) -> None:
        while True:
            msg = self.client.next_event(timeout=wait, job_id=self.job_id)  # other jobs' events stay for them
            if msg is None:
                return
            wait = 0.0
            self._last_event = time.monotonic()
            if msg.body.get("job_id") != self.job_id:
                continue
            handler = {messages.JOB_FRAME: self._on_frame, messages.JOB_PROGRESS: self._on_progress,
                       messages.JOB_DONE: self._on_done}.get(msg.type)
            if handler:
                handler(msg)
            if self.done:
                return

    def _on_progress(self, msg) -> None:
        body = msg.body
        self.stage = str(body.get("stage") or "")
        if isinstance(body.get("workers"), int):  # a job running on a cluster (docs/cluster.md)
            fps = body.get("frames_per_s")
            self.cluster = {"workers": body["workers"], "frames_per_s": float(fps) if isinstance(fps, (int, float)) else None}

    def _on_frame(self, msg) -> None:
        k = int(msg.body["frame"])
        if not 1 <= k <= len(self.todo) or not msg.buffers:
            return
        number = self.todo[k - 1]
        after = None
        ck = resume.from_event(number, msg.body, msg.buffers)
        if ck is not None:
            self.latest, self.independent = ck, ck.stateless
            if self.keeper.wanted(ck):
                after = self.keeper.writer(ck)
        alpha = self._alphas.pop(number, None)
        if number in self.skip:
            self.writer.submit(number, None, after=after)
            return
        if alpha is not None:
            alpha = np.frombuffer(zlib.decompress(alpha), np.uint8).reshape(self.spec.height, self.spec.width)
        image = _buffer_image(msg.buffers[0], (self.spec.height, self.spec.width, 3))
        matte = next((_buffer_image((spec, data), (self.spec.height, self.spec.width, 1))
                      for spec, data in msg.buffers[1:] if spec.get("name") == "matte"), None)
        self.writer.submit(number, image, matte, after=after, alpha=alpha)

    def _collect(self, wait: bool = False) -> None:
        """Count the frames the writer has finished; a write error (disk full...) ends the job."""
        done, error = self._take_written(wait)
        if done and self.state == "running" and time.monotonic() - self._sidecar_at >= SIDECAR_EVERY_S:
            self._write_sidecar("running")  # a killed run's kino.json still says how far it got
        if error is not None and not self.done:
            self._abort(self._write_problem(error))

    def _take_written(self, wait: bool) -> tuple:
        """``(numbers, error)`` from the writer (``FrameWriter.collect``), the new frames counted."""
        done, error = self.writer.collect(wait)
        self.written += len([n for n in done if n not in self.skip])
        return done, error

    def _write_problem(self, error: tuple) -> str:
        """The message for the writer's error ``(number, OSError)``."""
        number, exc = error
        what = (f"the resume checkpoint after frame {number}" if getattr(exc, "kino_after_frame", False)
                else f"frame {number}")
        return (f"could not write {what} to {self.spec.folder} ({exc.strerror or exc}); free some disk space or "
                "pick another folder, then run again to resume")

    def _on_done(self, msg) -> None:
        body = msg.body
        self.provenance = body.get("provenance") or {}
        status = body.get("status") if body.get("status") in TERMINAL else "failed"
        err = body.get("error")
        if status == "failed":
            self._fail(_describe_wire(err) if err else "the backend reported the job as failed")
        elif status == "cancelled" and self._cancel_at is None and isinstance(err, dict):
            self._fail(_describe_wire(err))  # the backend stopped it (shut down, input stalled): say why
        else:
            self._finish(status)

    def _check_stuck(self) -> None:
        if self.alive is not None and not self.alive():
            self._fail("the backend process exited")
        elif self._cancel_at is not None and time.monotonic() - self._cancel_at > self.cancel_grace:
            self._finish("cancelled")

    def _fail_after_events(self, exc: BackendError, wait: float = 1.0) -> None:
        """A request failed (e.g. input for a job that has just failed): the job's own ``job.done``, which
        carries the stage's message, may be on its way: prefer it over the request's error."""
        if exc.code != DISCONNECTED and self.job_id:
            deadline = time.monotonic() + wait
            try:
                while not self.done and time.monotonic() < deadline:
                    self._drain(0.05)
            except BackendError:
                pass
        if not self.done:
            self._fail(_describe(exc))

    def _abort(self, message: str) -> None:
        if self.job_id and self.state in ("running", "cancelling"):
            try:
                self.client.cancel(self.job_id, timeout=self.send_timeout)
            except BackendError:
                pass
        self._fail(message, kept_note=False)

    def _fail(self, message: str, kept_note: bool = True) -> None:
        _, error = self._take_written(wait=True)  # the frames already received land first: count them
        if error is not None:
            message = f"{message}; and {self._write_problem(error)}"
        if kept_note and self.frames_on_disk > 0:
            message = (f"{message}; {self.frames_on_disk} of {self.spec.count} frames are finished and kept in "
                       f"{self.spec.folder} ({self.spec.resume_hint})")
        self.error = message
        self._finish("failed")

    def _finish(self, state: str) -> None:
        if self.interrupted and state == "cancelled":
            state = "interrupted"
        if self.job_id and hasattr(self.client, "discard"):
            self.client.discard(self.job_id)
        _, error = self._take_written(wait=True)  # every frame the backend sent on disk before kino.json says so
        problem = self._completion_problem(error) if state == "completed" else None
        if problem:
            state, self.error = "failed", problem
        self.state = state
        self.writer.close()
        if state != "completed" and not existing_frames(self.spec.folder):
            self._remove_empty()  # nothing was made: leave no folder and no kino.json behind ...
            previous_result.restore(self.spec.folder)  # ... but the result it was to replace, as it was
            return
        previous_result.discard(self.spec.folder)
        self._keep_checkpoint(state)
        self._write_sidecar(state)

    def _completion_problem(self, error) -> Optional[str]:
        """Why a job the backend completed is not complete on disk: the last frames could not be written
        (``error`` from the writer), or frames are gone (the folder emptied while the job ran)."""
        if error is not None:
            return self._write_problem(error)
        gone = sorted(set(range(1, self.spec.count + 1)) - set(existing_frames(self.spec.folder)))
        if not gone:
            return None
        return (f"{len(gone)} of {self.spec.count} frames are not in {self.spec.folder} (frame {gone[0]} first; removed "
                f"while the job ran?): {self.spec.resume_hint}")

    def _remove_empty(self) -> None:
        folder = self.spec.folder
        resume.clear(folder)
        clear_partial(folder)
        for name in (SIDECAR, os.path.join("matte")):
            path = os.path.join(folder, name)
            try:
                os.rmdir(path) if os.path.isdir(path) else os.remove(path)
            except OSError:
                pass
        if self._made_folder:
            try:
                os.rmdir(folder)  # only when empty
            except OSError:
                pass

    def _keep_checkpoint(self, state: str) -> None:
        """Completed: a stateful checkpoint has served. Otherwise keep the newest one whose frame is on
        disk (the writer only saves one now and then), so the next run recomputes nothing."""
        keeper, latest = self.keeper, self.latest
        if keeper is None:
            return
        if state == "completed":
            resume.clear(self.spec.folder)  # kino.json keeps whether frames are independent
            return
        if latest is not None and keeper.stateful and not missing_frames(
                self.spec.folder, latest.frame, self.spec.width, self.spec.height):
            try:
                keeper.writer(latest)()
            except OSError:
                pass  # the older checkpoint stays: the next run recomputes a few more frames

    def _write_sidecar(self, state: str) -> None:
        self._sidecar_at = time.monotonic()
        spec = self.spec
        frames = {"count": spec.count, "pattern": FRAME_PATTERN.replace("{:04d}", "%04d"),
                  "width": spec.width, "height": spec.height, "first_timeline_frame": spec.first_timeline_frame,
                  "done": self.frames_on_disk}
        if self.alpha_frames:  # transparent source frames: their results carry the source's alpha
            frames["alpha_from_source"] = self.alpha_frames
        try:
            write_sidecar(spec.folder, build_sidecar(
                status=state, source=spec.source, workflow=spec.workflow, options=spec.options, frames=frames,
                provenance=self.provenance, versions=spec.versions, command=spec.command, reused=self.reused,
                error=self.error, settings_hash=spec.settings_hash,
                frames_independent=self.independent, timings=self.timings()))
        except OSError as exc:
            self.error = (self.error + "; " if self.error else "") + f"could not write kino.json ({exc})"

    def timings(self) -> dict:
        """Where this run's time went on the add-on's side (kino.json ``timings``; the backend's parts are
        in ``provenance.timings``): seconds per frame reading source frames (``extract``: Blender renders
        the strip), sending them, and encoding + writing the results (on the writer thread)."""
        n = self.sent
        wall = time.perf_counter() - self._started_at if self._started_at is not None else 0.0
        parts = dict(self.seconds, write=self.writer.seconds)
        return {"frames": n, "wall_s": round(wall, 3),
                "s_per_frame": {k: round(v / n, 4) for k, v in parts.items()} if n else {},
                "wall_s_per_frame": round(wall / n, 4) if n else None, "max_rss_mb": peak_rss_mb(),
                "page_faults_per_frame": round((page_faults() - self._faults_at_start) / n) if n else None}


def options_for_frames(options: dict, numbers: list, count: int) -> dict:
    """Job options for a job that carries only output frames ``numbers`` (resume): per-frame lists
    (``stabilize.matrices``, one per output frame) are cut down to those frames, in order."""
    stab = options.get("stabilize")
    if not isinstance(stab, dict) or len(numbers) == count:
        return options
    out = dict(options, stabilize=dict(stab))
    for key in ("matrices", "frames"):
        seq = stab.get(key)
        if isinstance(seq, list) and len(seq) == count:
            out["stabilize"][key] = [seq[n - 1] for n in numbers]
    return out


def _buffer_image(buffer, shape) -> np.ndarray:
    spec, data = buffer
    if spec.get("encoding") == "png":
        image = decode_png(bytes(data))
    else:
        image = np.frombuffer(data, np.uint8).reshape(tuple(spec.get("shape") or shape))
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[:2] != tuple(shape[:2]):
        raise BackendError(BAD_MESSAGE, f"the backend returned a {image.shape[1]}x{image.shape[0]} frame, "
                                          f"expected {shape[1]}x{shape[0]}")
    return image


def _describe(exc: BackendError) -> str:
    if exc.code == DISCONNECTED:
        return f"the backend stopped ({exc.message})"
    return _describe_wire({"code": exc.code, "message": exc.message, "frame": exc.frame, "stage": exc.stage})


def _describe_wire(err: dict) -> str:
    """What went wrong in the backend's words first, then where, then the error code."""
    where = []
    if err.get("stage"):
        where.append(f"stage {err['stage']}")
    if err.get("frame"):
        where.append(f"frame {err['frame']}")
    place = f" ({', '.join(where)})" if where else ""
    return f"{err.get('message', 'unknown error')}{place} [{err.get('code', 'ERROR')}]"
