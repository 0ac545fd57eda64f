"""The JSON envelope of one logical message (``docs/protocol.md``): build, encode, parse, validate.

An envelope is ``{"v": 1, "id", "kind", "type", "re", "body", "error", "buffers"}``; each declared
buffer travels as its own frame right after the envelope frame. Unknown fields are ignored.
"""
from __future__ import annotations

import itertools
import json
import os
import re as _re
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

from . import ENVELOPE_VERSION, MAX_BUFFER_BYTES, MAX_BUFFERS, MAX_ENVELOPE_BYTES
from .errors import BAD_MESSAGE, PROTOCOL_VERSION, ProtocolError
from .quoting import quote

KINDS = ("request", "response", "event")
ENCODINGS = ("raw", "png")
DTYPES = ("uint8",)
_TYPE_RE = _re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_MAX_ID = 128
MAX_DEPTH = 32  # nesting of lists/objects in an envelope; real messages use fewer than 8 levels
_ids = itertools.count(1)
_ID_PREFIX = os.urandom(4).hex()


def new_id(prefix: str = "m") -> str:
    """A message id unique within this process (and, with its random prefix, across peers)."""
    return f"{prefix}{_ID_PREFIX}-{next(_ids)}"


@dataclass
class Message:
    """One logical message. ``buffers`` is a list of ``(spec dict, data)``; on receipt data is bytes."""

    kind: str
    type: str
    body: dict = field(default_factory=dict)
    id: str = ""
    re: Optional[str] = None
    error: Optional[dict] = None
    buffers: List[Tuple[dict, Any]] = field(default_factory=list)

    def __post_init__(self):
        if not self.id:
            self.id = new_id(self.kind[0])

    def envelope(self) -> dict:
        return {"v": ENVELOPE_VERSION, "id": self.id, "kind": self.kind, "type": self.type, "re": self.re,
                "body": self.body, "error": self.error, "buffers": [spec for spec, _ in self.buffers]}


def buffer_spec(name: str, nbytes: int, shape: Sequence[int], encoding: str = "raw", dtype: str = "uint8") -> dict:
    """Declare one buffer; for raw uint8 ``nbytes`` must equal the product of ``shape``."""
    spec = {"name": name, "nbytes": int(nbytes), "dtype": dtype, "shape": [int(s) for s in shape],
            "encoding": encoding}
    problem = check_buffer_spec(spec)
    if problem:
        raise ValueError(problem)
    return spec


def _product(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def check_buffer_spec(spec: Any) -> Optional[str]:
    """Return what is wrong with one buffer declaration, or None when it is valid."""
    if not isinstance(spec, dict):
        return "a buffer declaration must be an object"
    name, nbytes, dtype, shape, enc = (spec.get(k) for k in ("name", "nbytes", "dtype", "shape", "encoding"))
    if not isinstance(name, str):
        return "buffer 'name' must be a string"
    shown = quote(name, 40)
    if not isinstance(nbytes, int) or isinstance(nbytes, bool) or not 0 < nbytes <= MAX_BUFFER_BYTES:
        return f"buffer {shown}: 'nbytes' must be an integer in 1..{MAX_BUFFER_BYTES}"
    if dtype not in DTYPES:
        return f"buffer {shown}: 'dtype' must be one of {', '.join(DTYPES)}"
    if enc not in ENCODINGS:
        return f"buffer {shown}: 'encoding' must be one of {', '.join(ENCODINGS)}"
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 4
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)):
        return f"buffer {shown}: 'shape' must be a list of 1 to 4 positive integers, e.g. [h, w, 3]"
    if enc == "raw" and _product(shape) != nbytes:
        return f"buffer {shown}: raw uint8 of shape {quote(shape, 40)} needs nbytes {_product(shape)}, declared {nbytes}"
    return None


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def encode_envelope(msg: Message) -> bytes:
    data = json.dumps(msg.envelope(), separators=(",", ":"), ensure_ascii=False,
                      default=_json_default).encode("utf-8")
    if len(data) > MAX_ENVELOPE_BYTES:
        raise ValueError(f"envelope of {msg.type} is {len(data)} bytes, over the {MAX_ENVELOPE_BYTES} byte cap; "
                         "send large data as buffers")
    return data


def decode_envelope(raw: bytes) -> Tuple[dict, list]:
    """Parse the envelope frame. Returns ``(envelope dict, buffer declarations)``.

    Raises a fatal ``ProtocolError`` when the number of buffer frames that follow cannot be known
    (invalid JSON, not an object, ``buffers`` not a list or too long). The other fields are checked
    by ``validate_envelope`` once the buffers have been read.
    """
    try:
        env = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"envelope is not valid UTF-8 JSON: {exc}", fatal=True) from None
    except RecursionError:
        raise ProtocolError(f"envelope is nested too deeply (at most {MAX_DEPTH} levels)", fatal=True) from None
    if not isinstance(env, dict):
        raise ProtocolError("envelope must be a JSON object", fatal=True)
    specs = env.get("buffers", [])
    if specs is None:
        specs = []
    if not isinstance(specs, list) or len(specs) > MAX_BUFFERS:
        raise ProtocolError(f"'buffers' must be a list of at most {MAX_BUFFERS} declarations",
                            re=_str_or_none(env.get("id")), fatal=True)
    return env, specs


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply lists/objects nest in ``value`` (iterative; stops counting past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _str_or_none(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and len(value) <= _MAX_ID else None


def validate_envelope(env: dict) -> Message:
    """Check the fields of a decoded envelope (buffers excluded) and build the Message."""
    msg_id = _str_or_none(env.get("id"))
    re_id = None if env.get("kind") in ("response", "event") else msg_id  # answer what may be a request

    def bad(text: str, code: str = BAD_MESSAGE) -> ProtocolError:
        return ProtocolError(text, code=code, re=re_id)

    if env.get("v") != ENVELOPE_VERSION:
        raise bad(f"envelope 'v' must be {ENVELOPE_VERSION}, got {quote(env.get('v'))}", PROTOCOL_VERSION)
    if not msg_id:
        raise bad(f"envelope 'id' must be a non-empty string of at most {_MAX_ID} characters")
    kind, mtype, re_, body, error = (env.get(k) for k in ("kind", "type", "re", "body", "error"))
    if kind not in KINDS:
        raise bad(f"envelope 'kind' must be one of {', '.join(KINDS)}, got {quote(kind)}")
    if not isinstance(mtype, str) or not _TYPE_RE.match(mtype) or len(mtype) > 64:
        raise bad(f"envelope 'type' must look like 'noun.verb', got {quote(mtype)}")
    if re_ is not None and not isinstance(re_, str):
        raise bad("envelope 're' must be a string or null")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise bad("envelope 'body' must be an object")
    if nesting_depth(env) > MAX_DEPTH:
        raise bad(f"envelope is nested more than {MAX_DEPTH} levels deep")
    if error is not None and not (isinstance(error, dict) and isinstance(error.get("code"), str)
                                  and isinstance(error.get("message"), str)):
        raise bad("envelope 'error' must be null or an object with string 'code' and 'message'")
    return Message(kind=kind, type=mtype, body=body, id=msg_id, re=re_, error=error)
