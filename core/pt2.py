"""A submitted torch.export archive (.pt2), validated from its zip bytes before anything loads it.

`torch.export.load` trusts the archive: it unpickles with `weights_only=False` every weight or
constant that *some* config entry declares pickled, calls plain `pickle.loads` on "opaque object"
constants, retries the sample inputs with `weights_only=False`, `sympify`s (evaluates) the shape
expressions of the program JSON and `exec`s its guards code. So the grader reads the zip itself,
once, and knows exactly what torch 2.14's `torch.export.save` writes for one program:

- the zip: at most MAX_MEMBERS members, unique safe names under one root folder, stored or
  deflated only, nothing encrypted, no overlapping members; every member decompressed as a
  stream with caps on its size, the total and the expansion ratio, and its CRC-32 checked;
- the members: the five text markers (fixed values), the weights and constants configs, the
  program `models/model.json`, the sample inputs, and the raw tensor files `weight_N` /
  `tensor_N` that the configs name (each named one exists, each that exists is named): nothing
  else, so no second `...model_weights_config.json`, no `extra/`, no AOTInductor code;
- the configs: every entry raw (`use_pickle` false), a plain dtype, strided, on the CPU, inside
  its file; entries may share a file only as tied weights do (same dtype); the constants config
  holds tensors only (no custom or opaque objects);
- the program JSON: depth-limited, no duplicate keys, no guards code, no custom objects,
  subgraphs or operator arguments, every call an aten (or symbolic-int) operator, every shape
  expression from a small grammar of SymPy constructors;
- the sample inputs: a torch.save archive whose pickle names only tensor-rebuilding globals
  (read opcode by opcode with pickletools, never unpickled); then dropped.

`validate(path, out)` writes what passed as a new archive (a fresh zip, every JSON member
re-serialised from the parsed objects, empty sample inputs): only that archive ever reaches
torch, and only inside the sandbox. Any refusal is one `UnsafeModel` line naming the member.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.pt2_program import UnsafeModel, check_program, json_depth, one_line, pickle_globals

__all__ = ["Summary", "UnsafeModel", "validate"]

MAX_FILE = 200 * 1024 * 1024  # the archive on disk
MAX_MEMBERS = 4096
MAX_MEMBER = 256 * 1024 * 1024  # one member, decompressed
MAX_TOTAL = 512 * 1024 * 1024  # all members, decompressed
MAX_RATIO = 100  # decompressed / compressed, once a member passes RATIO_FLOOR bytes
RATIO_FLOOR = 1024 * 1024
MAX_JSON = 32 * 1024 * 1024
MAX_DEPTH = 64  # a real program JSON nests 9 deep
CHUNK = 1024 * 1024

ROOT = "archive"  # the rewritten archive's root folder
MARKERS = {"archive_format": re.compile(rb"pt2"), "archive_version": re.compile(rb"0"),
           "byteorder": re.compile(rb"little"), ".data/version": re.compile(rb"[0-9]{1,2}\n?"),
           ".data/serialization_id": re.compile(rb"[0-9]{1,64}")}
WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
CONSTANTS_CONFIG = "data/constants/model_constants_config.json"
PROGRAM = "models/model.json"
SAMPLE_INPUTS = "data/sample_inputs/model.pt"
PAYLOAD = {WEIGHTS_CONFIG: ("data/weights/", re.compile(r"weight_[0-9]{1,6}")),
           CONSTANTS_CONFIG: ("data/constants/", re.compile(r"tensor_[0-9]{1,6}"))}
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}(/[A-Za-z0-9_.\-]{1,100}){0,6}")

# schema.ScalarType codes torch maps to plain tensors, and their element sizes.
DTYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 2, 7: 4, 8: 8, 12: 1, 13: 2}
STRIDED = 7
_ENTRY_KEYS = {"path_name", "is_param", "use_pickle", "tensor_meta"}
_META_KEYS = {"dtype", "sizes", "requires_grad", "device", "strides", "storage_offset", "layout"}



@dataclass(frozen=True)
class Summary:
    """What a validated archive holds."""

    members: int
    tensor_bytes: int
    parameters: int  # elements of the weights (tied weights counted once)


def validate(path: str | os.PathLike, out: str | os.PathLike | None = None) -> Summary:
    """Refuse (UnsafeModel) unless `path` is a plain torch.export archive; write what was
    validated to `out` as a fresh archive (nothing is written where it is refused)."""
    try:
        data_file = _open_plain(Path(path))
    except OSError as exc:
        raise UnsafeModel(f"cannot read the archive: {exc.strerror or exc}") from None
    with data_file:
        with _open_zip(data_file) as zf:
            try:
                return _Validator(zf, _size(data_file)).run(out)
            except UnsafeModel:
                if out is not None:
                    Path(out).unlink(missing_ok=True)
                raise
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                    NotImplementedError, RecursionError, struct.error) as exc:
                if out is not None:
                    Path(out).unlink(missing_ok=True)
                raise UnsafeModel(f"corrupt archive ({one_line(exc)})") from None


def _open_plain(path: Path) -> io.BufferedReader:
    """The file, opened without following a symlink, refused unless regular and within
    MAX_FILE (measured on the open descriptor, not trusted from the name)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    f = os.fdopen(fd, "rb")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        f.close()
        raise UnsafeModel("not a regular file")
    if st.st_size > MAX_FILE:
        f.close()
        raise UnsafeModel(f"{st.st_size} bytes, expected at most {MAX_FILE}")
    return f


def _open_zip(f: io.BufferedIOBase) -> zipfile.ZipFile:
    """zipfile reads the whole central directory into objects: its size is checked first, from
    the end record, so a directory of millions of entries never reaches memory."""
    try:
        # The end record (zip64 aware), as zipfile itself reads it: private, not in typeshed.
        zf: Any = zipfile
        end = zf._EndRecData(f)
        if end is None:
            raise zipfile.BadZipFile("no end of central directory")
        entries, size = end[zf._ECD_ENTRIES_TOTAL], end[zf._ECD_SIZE]
        if entries > MAX_MEMBERS or size > MAX_MEMBERS * 400:
            raise UnsafeModel(f"{entries} members in a {size}-byte directory, expected at most "
                              f"{MAX_MEMBERS}")
        f.seek(0)
        return zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        if isinstance(exc, UnsafeModel):
            raise
        raise UnsafeModel(f"not a zip archive ({one_line(exc)})") from None


def _size(f: io.BufferedReader) -> int:
    return os.fstat(f.fileno()).st_size


class _Validator:
    def __init__(self, zf: zipfile.ZipFile, file_size: int) -> None:
        self.zf = zf
        self.file_size = file_size
        self.total = 0
        self.root = ""
        self.infos: dict[str, zipfile.ZipInfo] = {}  # relative name -> entry

    # ------------------------------------------------------------ the zip

    def run(self, out: str | os.PathLike | None) -> Summary:
        self._directory()
        missing = [m for m in (*MARKERS, WEIGHTS_CONFIG, CONSTANTS_CONFIG, PROGRAM)
                   if m not in self.infos]
        if missing:
            raise UnsafeModel(f"member {missing[0]!r} missing: not a torch.export archive")
        markers = {m: self._marker(m) for m in MARKERS}
        configs = {c: self._config(c) for c in PAYLOAD}
        files = self._cross_check(configs)
        program = check_program(self._json(PROGRAM), f"member {self._full(PROGRAM)!r}")
        if SAMPLE_INPUTS in self.infos:
            self._sample_inputs()
        writer = zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) if out is not None else None
        tensor_bytes = params = 0
        try:
            if writer is not None:
                for m, value in markers.items():
                    writer.writestr(f"{ROOT}/{m}", value)
                for c, cfg in configs.items():
                    writer.writestr(f"{ROOT}/{c}", json.dumps(cfg))
                writer.writestr(f"{ROOT}/{PROGRAM}", json.dumps(program))
                writer.writestr(f"{ROOT}/{SAMPLE_INPUTS}", b"")  # never the student's pickle
            for rel, (dsize, need) in sorted(files.items()):
                sink = writer.open(f"{ROOT}/{rel}", "w") if writer is not None else None
                n = 0
                try:
                    for chunk in self._stream(rel):
                        n += len(chunk)
                        if sink is not None:
                            sink.write(chunk)
                finally:
                    if sink is not None:
                        sink.close()
                if n % dsize or (n and n // dsize < need):
                    raise UnsafeModel(f"member {self._full(rel)!r}: {n} bytes, expected a "
                                      f"multiple of {dsize} holding at least {need} elements")
                tensor_bytes += n
                if rel.startswith("data/weights/"):
                    params += n // dsize
        finally:
            if writer is not None:
                writer.close()
        return Summary(len(self.infos), tensor_bytes, params)

    def _full(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def _directory(self) -> None:
        infos = self.zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UnsafeModel(f"{len(infos)} members, expected at most {MAX_MEMBERS}")
        seen: set[str] = set()
        for info in infos:
            name = info.filename
            if name in seen:
                raise UnsafeModel(f"member {name!r} appears twice")
            seen.add(name)
            if not _NAME.fullmatch(name) or ".." in name.split("/") or "/" not in name:
                raise UnsafeModel(f"member {name[:80]!r}: not a plain archive path")
            root, rel = name.split("/", 1)
            if self.root and root != self.root:
                raise UnsafeModel(f"member {name!r} outside the archive's folder {self.root!r}")
            self.root = root
            if info.flag_bits & 0x1:
                raise UnsafeModel(f"member {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise UnsafeModel(f"member {name!r}: compression method {info.compress_type}, "
                                  "expected stored or deflated")
            if info.file_size > MAX_MEMBER:
                raise UnsafeModel(f"member {name!r} declares {info.file_size} bytes, expected "
                                  f"at most {MAX_MEMBER}")
            self.infos[rel] = info
        # Members must not share bytes (overlapping entries make a small file expand many
        # times) and must lie inside the file.
        spans = sorted((i.header_offset, i.header_offset + 30 + len(i.filename.encode())
                        + i.compress_size, i.filename) for i in infos)
        for (_, end, name), (start, _, nxt) in zip(spans, spans[1:]):
            if start < end:
                raise UnsafeModel(f"members {name!r} and {nxt!r} overlap")
        if spans and spans[-1][1] > self.file_size:
            raise UnsafeModel(f"member {spans[-1][2]!r} runs past the end of the file")
        for rel in self.infos:
            if not self._known(rel):
                raise UnsafeModel(f"member {self._full(rel)!r}: not part of a torch.export "
                                  "archive (nothing pickled is loaded, not even with "
                                  "weights_only=True)")

    def _known(self, rel: str) -> bool:
        if rel in MARKERS or rel in (WEIGHTS_CONFIG, CONSTANTS_CONFIG, PROGRAM, SAMPLE_INPUTS):
            return True
        return any(rel.startswith(folder) and pat.fullmatch(rel[len(folder):])
                   for folder, pat in PAYLOAD.values())

    def _stream(self, rel: str, cap: int = MAX_MEMBER) -> Iterator[bytes]:
        """The member's bytes in chunks: size, total and ratio capped, CRC checked at the end
        (zipfile raises BadZipFile on a mismatch once the member is read to its end)."""
        info = self.infos[rel]
        n = 0
        with self.zf.open(info) as f:
            while chunk := f.read(CHUNK):
                n += len(chunk)
                self.total += len(chunk)
                if n > min(cap, info.file_size):
                    raise UnsafeModel(f"member {info.filename!r} expands past "
                                      f"{min(cap, info.file_size)} bytes")
                if self.total > MAX_TOTAL:
                    raise UnsafeModel(f"the archive expands past {MAX_TOTAL} bytes")
                if n > RATIO_FLOOR and n > MAX_RATIO * max(info.compress_size, 1):
                    raise UnsafeModel(f"member {info.filename!r} expands more than "
                                      f"{MAX_RATIO} times (a zip bomb?)")
                yield chunk
        if n != info.file_size:
            raise UnsafeModel(f"member {info.filename!r}: {n} bytes, the directory says "
                              f"{info.file_size}")

    def _read(self, rel: str, cap: int) -> bytes:
        return b"".join(self._stream(rel, cap))

    # ------------------------------------------------------------ text and configs

    def _marker(self, rel: str) -> bytes:
        data = self._read(rel, 128)
        if not MARKERS[rel].fullmatch(data):
            raise UnsafeModel(f"member {self._full(rel)!r}: unexpected value {data[:40]!r}")
        return data

    def _json(self, rel: str) -> object:
        data = self._read(rel, MAX_JSON)

        def pairs(items: list[tuple[str, object]]) -> dict:
            out = dict(items)
            if len(out) != len(items):
                dup = next(k for k in out if sum(1 for kk, _ in items if kk == k) > 1)
                raise UnsafeModel(f"member {self._full(rel)!r}: key {dup[:60]!r} appears twice")
            return out

        try:
            obj = json.loads(data.decode("utf-8"), object_pairs_hook=pairs)
        except RecursionError:  # the C parser stops cleanly at the interpreter's limit
            obj = None
            depth: int | str = f"more than {MAX_DEPTH}"
        except (UnicodeDecodeError, ValueError) as exc:
            if isinstance(exc, UnsafeModel):
                raise
            raise UnsafeModel(f"member {self._full(rel)!r}: not valid JSON ({one_line(exc)})") \
                from None
        else:
            depth = json_depth(obj)
        if not isinstance(depth, int) or depth > MAX_DEPTH:
            raise UnsafeModel(f"member {self._full(rel)!r}: JSON nested {depth} deep, expected "
                              f"at most {MAX_DEPTH}")
        return obj

    def _config(self, rel: str) -> dict:
        where = f"member {self._full(rel)!r}"
        cfg = self._json(rel)
        if not isinstance(cfg, dict) or set(cfg) != {"config"} or \
                not isinstance(cfg["config"], dict):
            raise UnsafeModel(f"{where}: expected {{\"config\": {{...}}}}")
        _, pattern = PAYLOAD[rel]
        for fqn, entry in cfg["config"].items():
            what = f"{where}: entry {fqn[:60]!r}"
            if not isinstance(entry, dict) or not set(entry) <= _ENTRY_KEYS or \
                    "path_name" not in entry:
                raise UnsafeModel(f"{what}: expected path_name, is_param, use_pickle, "
                                  "tensor_meta")
            if entry.get("use_pickle") is not False:
                raise UnsafeModel(f"{what} is declared pickled (use_pickle "
                                  f"{json.dumps(entry.get('use_pickle'))}): only raw tensors "
                                  "are accepted")
            pname = entry["path_name"]
            if not isinstance(pname, str) or not pattern.fullmatch(pname):
                raise UnsafeModel(f"{what}: path_name {str(pname)[:60]!r} is not a raw tensor "
                                  f"file ({pattern.pattern}; custom and opaque objects are "
                                  "refused)")
            if not isinstance(entry.get("is_param", False), bool):
                raise UnsafeModel(f"{what}: is_param must be true or false")
            _tensor_meta(entry.get("tensor_meta"), what)
        return cfg

    def _cross_check(self, configs: dict[str, dict]) -> dict[str, tuple[int, int]]:
        """Relative tensor file -> (element size, elements its entries need). Every file named
        exists, every file that exists is named, shared files agree on the dtype."""
        files: dict[str, tuple[int, int]] = {}
        dtypes: dict[str, int] = {}
        for rel, cfg in configs.items():
            folder, _ = PAYLOAD[rel]
            for fqn, entry in cfg["config"].items():
                f = folder + entry["path_name"]
                meta = entry["tensor_meta"]
                if f not in self.infos:
                    raise UnsafeModel(f"member {self._full(rel)!r}: entry {fqn[:60]!r} names "
                                      f"{self._full(f)!r}, which the archive does not hold")
                if dtypes.setdefault(f, meta["dtype"]) != meta["dtype"]:
                    raise UnsafeModel(f"member {self._full(rel)!r}: entries disagree on the "
                                      f"dtype of {self._full(f)!r}")
                size = DTYPE_SIZE[meta["dtype"]]
                files[f] = (size, max(files.get(f, (size, 0))[1], _extent(meta)))
        for rel in self.infos:
            if any(rel.startswith(folder) for folder, _ in PAYLOAD.values()) and \
                    rel not in PAYLOAD and rel not in files:
                raise UnsafeModel(f"member {self._full(rel)!r}: no config entry names it")
        return files

    # ------------------------------------------------------------ the program

    def _sample_inputs(self) -> None:
        """Scanned, never loaded (the rewritten archive has none): a torch.save archive whose
        pickle names only the globals that rebuild tensors."""
        where = f"member {self._full(SAMPLE_INPUTS)!r}"
        data = self._read(SAMPLE_INPUTS, 64 * 1024 * 1024)
        if not data:
            return
        try:
            inner = _open_zip(io.BytesIO(data))
        except UnsafeModel as exc:
            raise UnsafeModel(f"{where}: not a torch.save archive ({exc})") from None
        with inner:
            pkls = [i for i in inner.infolist() if i.filename.endswith("data.pkl")]
            if len(inner.infolist()) > MAX_MEMBERS or len(pkls) != 1:
                raise UnsafeModel(f"{where}: expected one data.pkl")
            sub = _Validator(inner, len(data))
            sub.infos = {"data.pkl": pkls[0]}
            sub.root = f"{self._full(SAMPLE_INPUTS)}:{pkls[0].filename.rsplit('/', 1)[0]}"
            pickle_globals(sub._read("data.pkl", 16 * 1024 * 1024), where)


def _tensor_meta(meta: object, what: str) -> None:
    if not isinstance(meta, dict) or set(meta) != _META_KEYS:
        raise UnsafeModel(f"{what}: tensor_meta must have {', '.join(sorted(_META_KEYS))}")
    if meta["dtype"] not in DTYPE_SIZE or isinstance(meta["dtype"], bool):
        raise UnsafeModel(f"{what}: dtype {str(meta['dtype'])[:20]} is not a plain numeric "
                          "dtype")
    if meta["layout"] != STRIDED:
        raise UnsafeModel(f"{what}: layout {str(meta['layout'])[:20]}, expected strided")
    if meta["device"] != {"type": "cpu", "index": None}:
        raise UnsafeModel(f"{what}: device {json.dumps(meta['device'])[:60]}, expected the "
                          "CPU (export the model after model.cpu())")
    if not isinstance(meta["requires_grad"], bool):
        raise UnsafeModel(f"{what}: requires_grad must be true or false")
    sizes, strides = meta["sizes"], meta["strides"]
    if not isinstance(sizes, list) or not isinstance(strides, list) or \
            len(sizes) != len(strides) or len(sizes) > 8:
        raise UnsafeModel(f"{what}: sizes and strides must be lists of equal length (<= 8)")
    for v in [*sizes, *strides, meta["storage_offset"]]:
        if not isinstance(v, dict) or set(v) != {"as_int"} or \
                not isinstance(v["as_int"], int) or isinstance(v["as_int"], bool) or \
                not 0 <= v["as_int"] < 2**40:
            raise UnsafeModel(f"{what}: sizes, strides and offset must be plain integers")


def _extent(meta: dict) -> int:
    """Elements the strided view needs in its storage."""
    sizes = [s["as_int"] for s in meta["sizes"]]
    if 0 in sizes:
        return 0
    strides = [s["as_int"] for s in meta["strides"]]
    return meta["storage_offset"]["as_int"] + sum((n - 1) * s for n, s in zip(sizes, strides)) + 1
