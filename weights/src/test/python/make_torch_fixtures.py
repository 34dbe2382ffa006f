#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures of weights/src/test/resources/torch from ../shared/fixtures.

Run once from the repository root with a Python that has torch (e.g. Debian's python3-torch):
    /usr/bin/python3 weights/src/test/python/make_torch_fixtures.py
The outputs are committed; tests only read them (CI has no torch).

  tiny-bf16-bin/       the whole gptneo-tiny-bf16-sharded model as two torch.save shards + pytorch_model.bin.index.json,
                       with lm_head.weight tied to transformer.wte.weight (one shared storage), as HF saves it
  parts-f32.bin        layer tensors of gptneo-tiny (no embeddings): q/k/v as views into one fused storage
                       (storage offsets), h.0.mlp.c_fc.weight non-contiguous (a transposed view), a Parameter
  parts-f16.bin        layer tensors of gptneo-tiny-f16
  parts-bigendian.bin  parts-f32.bin rewritten as a big-endian checkpoint under another top-level folder name
  legacy.bin           a pre-1.6 (non-zip) torch.save file
  hostile/*.bin        zip checkpoints whose data.pkl tries to run code or lies about sizes (see HOSTILE below)
"""
import io, json, os, pickle, struct, sys, zipfile
import torch

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(ROOT, "..", "..", "..", ".."))
SHARED = os.environ.get("GPTNEO_SHARED", os.path.join(REPO, "..", "shared"))
OUT = os.path.join(REPO, "weights", "src", "test", "resources", "torch")
MARKER = "/tmp/gptneo-pickle-pwned"   # what every hostile payload would create; tests assert it never appears

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=DTYPES[e["dtype"]]) if end > b else torch.empty(0, dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


def read_model(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        out = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            out.update(read_safetensors(os.path.join(folder, shard)))
        return out
    return read_safetensors(os.path.join(folder, "model.safetensors"))


def layer_parts(src):
    """Layer and final-norm tensors (no embeddings), with views that exercise offsets and strides."""
    sd = {k: v for k, v in src.items() if not (k.endswith("wte.weight") or k.endswith("wpe.weight") or k == "lm_head.weight")}
    p = "transformer.h.0.attn.attention."
    fused = torch.cat([sd[p + "q_proj.weight"], sd[p + "k_proj.weight"], sd[p + "v_proj.weight"]])   # one storage
    h = sd[p + "q_proj.weight"].shape[0]
    sd[p + "q_proj.weight"], sd[p + "k_proj.weight"], sd[p + "v_proj.weight"] = fused[:h], fused[h:2 * h], fused[2 * h:]
    w = sd["transformer.h.0.mlp.c_fc.weight"]
    sd["transformer.h.0.mlp.c_fc.weight"] = w.t().contiguous().t()              # same values, strides (1, rows)
    assert not sd["transformer.h.0.mlp.c_fc.weight"].is_contiguous()
    sd["transformer.ln_f.weight"] = torch.nn.Parameter(sd["transformer.ln_f.weight"], requires_grad=False)
    return sd


def rewrite_zip(src, dst, prefix, big_endian):
    """Copies a torch zip under another top-level folder name; big_endian byte-swaps every storage."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as o:
        old = z.namelist()[0].split("/")[0]
        pkl = z.read(old + "/data.pkl")
        sizes = {}
        for name, e in pickle_storages(pkl).items():
            sizes[name] = e
        for info in z.infolist():
            rest = info.filename[len(old) + 1:]
            data = z.read(info.filename)
            if rest == "byteorder":
                data = b"big" if big_endian else b"little"
            elif rest.startswith("data/") and big_endian:
                width = sizes[rest[5:]]
                data = b"".join(data[i:i + width][::-1] for i in range(0, len(data), width))
            o.writestr(prefix + "/" + rest, data)
        if "byteorder" not in [n[len(old) + 1:] for n in z.namelist()]:
            o.writestr(prefix + "/byteorder", b"big" if big_endian else b"little")


def pickle_storages(pkl):
    """Storage key -> element width, read with a persistent_load that builds nothing."""
    widths = {}
    width = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8, "LongStorage": 8, "IntStorage": 4}

    class U(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch" and name.endswith("Storage"):
                return name
            return lambda *a, **k: None

        def persistent_load(self, pid):
            widths[pid[2]] = width[pid[1]]
            return None
    U(io.BytesIO(pkl)).load()
    return widths


# ---- hostile pickles, written by hand (opcodes) so each is exactly what it claims ----
def s(x):  # BINUNICODE
    b = x.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def zip_with(pkl, extra=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/version", b"3\n")
        for k, v in (extra or {}).items():
            z.writestr(k, v)
    return buf.getvalue()


CMD = "touch " + MARKER
STORAGE = lambda key, numel: b"(" + s("storage") + b"ctorch\nFloatStorage\n" + s(key) + s("cpu") + b"J" + struct.pack("<i", numel) + b"tQ"
TENSOR = lambda key, numel, size: (b"ctorch._utils\n_rebuild_tensor_v2\n(" + STORAGE(key, numel) + b"K\x00(J" + struct.pack("<i", size)
                                   + b"t(K\x01t\x89ccollections\nOrderedDict\n)RtR")
GOOD = b"\x80\x02}q\x00(" + s("w") + TENSOR("0", 4, 4) + b"u."
HOSTILE = {
    "os_system": b"\x80\x02cos\nsystem\nq\x00" + s(CMD) + b"\x85R.",
    "posix_system": b"\x80\x02cposix\nsystem\n" + s(CMD) + b"\x85R.",
    "builtins_eval": b"\x80\x02cbuiltins\neval\n" + s("__import__('os').system('" + CMD + "')") + b"\x85R.",
    "subprocess_popen": b"\x80\x02csubprocess\nPopen\n((" + s("touch") + s(MARKER) + b"ltR.",
    "stack_global_exec": b"\x80\x04" + b"\x8c\x08builtins\x8c\x04exec\x93" + s("import os; os.system('" + CMD + "')") + b"\x85R.",
    # an allowlisted rebuild whose arguments hide a call to os.system
    "nested_global": b"\x80\x02}(" + s("w") + b"ctorch._utils\n_rebuild_tensor_v2\n(cos\nsystem\n" + s(CMD) + b"\x85RK\x00(K\x04t(K\x01t\x89NtRu.",
    # an allowlisted global used as a REDUCE target with a hostile object constructed first
    "reduce_on_storage_class": b"\x80\x02ctorch\nFloatStorage\n" + s(CMD) + b"\x85R.",
    "inst_opcode": b"(S'" + CMD.encode() + b"'\nios\nsystem\n.",
    "newobj": b"\x80\x02csubprocess\nPopen\n)\x81.",
    "memo_missing": b"\x80\x02}q\x00(" + s("w") + b"h\x07u.",
    "memo_long_missing": b"\x80\x02}(" + s("w") + b"j\xff\xff\xff\x7fu.",
    "truncated": GOOD[: len(GOOD) // 2],
    "no_stop": GOOD[:-1],
    "huge_storage": b"\x80\x02}(" + s("w") + TENSOR("0", 0x7fffffff, 4) + b"u.",
    "huge_tensor": b"\x80\x02}(" + s("w") + TENSOR("0", 4, 0x7fffffff) + b"u.",
    "huge_string": b"\x80\x02X\xff\xff\xff\x7f" + b"a" * 16,
    "escaping_key": b"\x80\x02}(" + s("w") + TENSOR("../../../../tmp/x", 4, 4) + b"u.",
    "escaping_key_slash": b"\x80\x02}(" + s("w") + TENSOR("0/../../x", 4, 4) + b"u.",
}


def main():
    os.makedirs(os.path.join(OUT, "hostile"), exist_ok=True)
    torch.manual_seed(0)
    # full model, bf16, two shards, tied lm_head
    sd = read_model(os.path.join(SHARED, "fixtures", "gptneo-tiny-bf16-sharded"))
    sd["lm_head.weight"] = sd["transformer.wte.weight"]                   # tied: the same tensor object, one storage
    d = os.path.join(OUT, "tiny-bf16-bin")
    os.makedirs(d, exist_ok=True)
    first = {k: v for k, v in sd.items() if ".h.0." in k or ".h.1." in k}
    second = {k: v for k, v in sd.items() if k not in first}
    names = ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]
    weight_map = {}
    for part, name in zip([first, second], names):
        torch.save(part, os.path.join(d, name))
        weight_map.update({k: name for k in part})
    total = sum(v.numel() * v.element_size() for k, v in sd.items() if k != "lm_head.weight")
    with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    with open(os.path.join(SHARED, "fixtures", "gptneo-tiny-bf16-sharded", "config.json")) as f:
        config = f.read()
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(config)

    torch.save(layer_parts(read_model(os.path.join(SHARED, "fixtures", "gptneo-tiny"))), os.path.join(OUT, "parts-f32.bin"))
    torch.save(layer_parts(read_model(os.path.join(SHARED, "fixtures", "gptneo-tiny-f16"))), os.path.join(OUT, "parts-f16.bin"))
    rewrite_zip(os.path.join(OUT, "parts-f32.bin"), os.path.join(OUT, "parts-bigendian.bin"), "some_other-name", True)
    torch.save({"w": torch.arange(4, dtype=torch.float32)}, os.path.join(OUT, "legacy.bin"), _use_new_zipfile_serialization=False)

    for name, pkl in HOSTILE.items():
        with open(os.path.join(OUT, "hostile", name + ".bin"), "wb") as f:
            f.write(zip_with(pkl, {"archive/data/0": struct.pack("<4f", 1, 2, 3, 4)}))
    # a storage whose entry is shorter than declared, and a good reference for the hostile set
    with open(os.path.join(OUT, "hostile", "short_storage.bin"), "wb") as f:
        f.write(zip_with(GOOD, {"archive/data/0": struct.pack("<2f", 1, 2)}))
    with open(os.path.join(OUT, "hostile", "good.bin"), "wb") as f:
        f.write(zip_with(GOOD, {"archive/data/0": struct.pack("<4f", 1, 2, 3, 4)}))
    # sanity: the good file loads with torch itself
    assert torch.load(os.path.join(OUT, "hostile", "good.bin"))["w"].tolist() == [1, 2, 3, 4]
    print("wrote", OUT)


if __name__ == "__main__":
    main()
