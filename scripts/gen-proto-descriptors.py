#!/usr/bin/env python3
"""Generates runtime/apiserver/proto_desc.c, the message table the embedded API server uses to turn
Kubernetes protobuf request bodies into JSON (see runtime/apiserver/proto.h).

Run by hand; the output is committed:

    scripts/gen-proto-descriptors.py [--kubectl PATH] [--out runtime/apiserver/proto_desc.c]

Where the facts come from
-------------------------
* Wire facts (field numbers, proto types, repeated, maps): the FileDescriptorProto messages that
  gogo-protobuf registers for k8s.io/api and k8s.io/apimachinery, found gzipped inside a kubectl
  binary. The default binary is kubectl v1.32.5 (gitCommit 9894294ef13a5b32803e3ca2c0d620a088cc84d1,
  k8s.io/api v0.32.5), i.e. exactly the types that kubectl 1.32 encodes.
* JSON facts (JSON member names, omitempty, inline members, Go pointer fields): the struct tags and
  field types of the same Go structs, read from the Go runtime type information in that binary.
  They decide what the JSON encoding of the decoded Go object contains.
* apiextensions.k8s.io/v1 is not linked into kubectl: its facts are in
  scripts/proto-facts/apiextensions-v1.txt (read from the upstream sources, see that file).

The script refuses to run on a kubectl that is not v1.32.x unless --any-version is given.
"""
import argparse
import gzip
import json
import os
import re
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Proto packages decoded, with their API group ("" for the core group).
GROUPS = {
    "k8s.io.api.core.v1": ("", "v1"),
    "k8s.io.api.apps.v1": ("apps", "v1"),
    "k8s.io.api.batch.v1": ("batch", "v1"),
    "k8s.io.api.batch.v1beta1": ("batch", "v1beta1"),
    "k8s.io.api.coordination.v1": ("coordination.k8s.io", "v1"),
    "k8s.io.api.rbac.v1": ("rbac.authorization.k8s.io", "v1"),
    "k8s.io.api.policy.v1": ("policy", "v1"),
    "k8s.io.api.networking.v1": ("networking.k8s.io", "v1"),
    "k8s.io.api.scheduling.v1": ("scheduling.k8s.io", "v1"),
    "k8s.io.api.storage.v1": ("storage.k8s.io", "v1"),
    "k8s.io.api.events.v1": ("events.k8s.io", "v1"),
    "k8s.io.api.discovery.v1": ("discovery.k8s.io", "v1"),
    "k8s.io.api.autoscaling.v1": ("autoscaling", "v1"),
    "k8s.io.api.authentication.v1": ("authentication.k8s.io", "v1"),
    "k8s.io.api.authorization.v1": ("authorization.k8s.io", "v1"),
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1": ("apiextensions.k8s.io", "v1"),
}
# Extra roots that are not objects with metadata: (apiVersion or "*" for any, kind, message).
EXTRA_ROOTS = [
    ("*", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
]
META = "k8s.io.apimachinery.pkg.apis.meta.v1."
# Messages kept in the table although no decoded kind uses them (yet).
EXTRA_MESSAGES = [META + "Duration"]
# Messages with ObjectMeta at field 1 that are parts of objects, not kinds.
NOT_KINDS = {"JobTemplateSpec", "PodTemplateSpec", "PersistentVolumeClaimTemplate"}
# Types whose Go JSON form is not the plain struct encoding (custom MarshalJSON).
SPECIAL = {
    META + "Time": "TIME",
    META + "MicroTime": "MICROTIME",
    META + "Duration": "DURATION",
    META + "FieldsV1": "RAWJSON",
    META + "Verbs": "STRARRAY",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RAWJSON",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "QUANTITY",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "INTSTR",
    "k8s.io.api.authentication.v1.ExtraValue": "STRARRAY",
    "k8s.io.api.authorization.v1.ExtraValue": "STRARRAY",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON": "RAWJSON",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "SCHEMA_OR_ARRAY",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "SCHEMA_OR_BOOL",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": "SCHEMA_OR_STRARRAY",
}

# FieldDescriptorProto.Type numbers.
SCALARS = {"double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "fixed64": 6,
           "fixed32": 7, "bool": 8, "string": 9, "bytes": 12, "uint32": 13, "sfixed32": 15,
           "sfixed64": 16, "sint32": 17, "sint64": 18}
T_MESSAGE, T_GROUP, T_ENUM = 11, 10, 14


# ---- A small protobuf reader (for FileDescriptorProto) -------------------------------------

def varint(b, i):
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return x, i


def fields(b):
    """Yields (number, wiretype, value) where value is an int or bytes."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v = struct.unpack_from("<Q", b, i)[0]
            i += 8
        elif wt == 5:
            v = struct.unpack_from("<I", b, i)[0]
            i += 4
        elif wt == 2:
            n, i = varint(b, i)
            v = b[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def parse_message_desc(b, prefix, out):
    name = None
    flds, nested, map_entry = [], [], False
    for num, _, v in fields(b):
        if num == 1:
            name = v.decode()
        elif num == 2:
            f = {"label": 1}
            for fn, _, fv in fields(v):
                if fn == 1:
                    f["name"] = fv.decode()
                elif fn == 3:
                    f["number"] = fv
                elif fn == 4:
                    f["label"] = fv
                elif fn == 5:
                    f["type"] = fv
                elif fn == 6:
                    f["type_name"] = fv.decode().lstrip(".")
            flds.append(f)
        elif num == 3:
            nested.append(v)
        elif num == 7:
            for on, _, ov in fields(v):
                if on == 7:
                    map_entry = bool(ov)
    full = prefix + "." + name
    out[full] = {"fields": flds, "map_entry": map_entry}
    for n in nested:
        parse_message_desc(n, full, out)


def descriptors_from_binary(data):
    """Every gzipped FileDescriptorProto in the binary: {proto message name: descriptor}."""
    msgs, files = {}, set()
    i = 0
    while True:
        i = data.find(b"\x1f\x8b\x08", i)
        if i < 0:
            break
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            fd = d.decompress(data[i:i + 1 << 22])
        except zlib.error:
            i += 3
            continue
        i += 3
        if not fd.startswith(b"\x0a"):
            continue
        try:
            parsed = list(fields(fd))
        except (ValueError, IndexError):
            continue
        fname = next((v for n, _, v in parsed if n == 1), b"").decode("utf-8", "replace")
        pkg = next((v for n, _, v in parsed if n == 2), b"").decode("utf-8", "replace")
        if not fname.startswith("k8s.io/") or not fname.endswith("generated.proto"):
            continue
        if fname in files:
            continue
        files.add(fname)
        for n, _, v in parsed:
            if n == 4:
                parse_message_desc(v, pkg, msgs)
    return msgs, files


# ---- Go runtime type information (struct tags and field kinds) -----------------------------

class GoBinary:
    """Reads the struct types of a Go 1.2x linux/amd64 ELF executable."""

    def __init__(self, data):
        self.data = data
        (shoff,) = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        secs = []
        for k in range(shnum):
            o = shoff + k * shentsize
            name, _typ, _flags, addr, off, size = struct.unpack_from("<IIQQQQ", data, o)
            secs.append([name, addr, off, size])
        stroff = secs[shstrndx][2]
        self.sections = {}
        for s in secs:
            end = data.index(b"\0", stroff + s[0])
            self.sections[data[stroff + s[0]:end].decode()] = (s[1], s[2], s[3])
        self.maps = [(a, o, n) for a, o, n in self.sections.values() if a]
        self.types_base = self.sections[".rodata"][0]

    def off(self, va):
        for a, o, n in self.maps:
            if a <= va < a + n:
                return va - a + o
        raise IndexError(hex(va))

    def u8(self, a):
        return self.data[self.off(a)]

    def i32(self, a):
        return struct.unpack_from("<i", self.data, self.off(a))[0]

    def u64(self, a):
        return struct.unpack_from("<Q", self.data, self.off(a))[0]

    def uvarint(self, a):
        x = s = 0
        while True:
            c = self.u8(a)
            a += 1
            x |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return x, a

    def name(self, a):
        flags = self.u8(a)
        n, p = self.uvarint(a + 1)
        o = self.off(p)
        nm = self.data[o:o + n].decode("utf-8", "replace")
        p += n
        tag = ""
        if flags & 2:
            tn, p = self.uvarint(p)
            o = self.off(p)
            tag = self.data[o:o + tn].decode("utf-8", "replace")
        return flags, nm, tag

    def kind(self, t):
        return self.u8(t + 23) & 0x1F

    def tname(self, t):
        _, n, _ = self.name(self.types_base + self.i32(t + 40))
        return n[1:] if self.u8(t + 20) & 2 else n

    UNCOMMON_AT = {25: 80, 22: 56, 23: 56, 17: 72, 21: 88, 18: 64, 19: 56, 20: 80}

    def pkgpath(self, t):
        if not self.u8(t + 20) & 1:
            return ""
        po = self.i32(t + self.UNCOMMON_AT.get(self.kind(t), 48))
        return self.name(self.types_base + po)[1] if po else ""

    def structs(self):
        """{(package path, type name): [(field name, tag, type address, embedded)]}."""
        tl_addr, _, tl_size = self.sections[".typelink"]
        stack = [self.types_base + self.i32(tl_addr + 4 * k) for k in range(tl_size // 4)]
        seen, out = set(), {}
        while stack:
            t = stack.pop()
            if t in seen or t == 0:
                continue
            seen.add(t)
            try:
                k = self.kind(t)
            except IndexError:
                continue
            if k in (17, 22, 23):
                stack.append(self.u64(t + 48))
            elif k == 21:
                stack += [self.u64(t + 48), self.u64(t + 56)]
            elif k == 25:
                fp, fn = self.u64(t + 56), self.u64(t + 64)
                flds = []
                for j in range(fn):
                    f = fp + 24 * j
                    fl, nm, tag = self.name(self.u64(f))
                    ft = self.u64(f + 8)
                    flds.append((nm, tag, ft, bool(fl & 8)))
                    stack.append(ft)
                try:
                    pp = self.pkgpath(t)
                except IndexError:
                    pp = ""
                if pp.startswith("k8s.io/"):
                    out[(pp, self.tname(t).split(".", 1)[-1])] = flds
        return out


def tag_get(tag, key):
    m = re.search(r'(?:^|\s)' + re.escape(key) + r':"([^"]*)"', tag)
    return m.group(1) if m else None


def go_json_facts(gb, flds):
    """{proto number: (json name, omitempty, ptr, inline)} from a Go struct's fields."""
    out = {}
    for nm, tag, ft, embedded in flds:
        pb = tag_get(tag, "protobuf")
        if pb is None:
            continue
        num = int(pb.split(",")[1])
        js = tag_get(tag, "json")
        parts = (js if js is not None else "").split(",")
        jname, opts = parts[0], parts[1:]
        if jname == "-" and not opts:
            out[num] = None
            continue
        inline = "inline" in opts or (js is None and embedded) or (jname == "" and embedded)
        if jname == "" and not inline:
            jname = nm
        pbname = next((x[5:] for x in pb.split(",") if x.startswith("name=")), None)
        out[num] = (jname, "omitempty" in opts, gb.kind(ft) == 22, inline, pbname)
    return out


# ---- The apiextensions facts file ------------------------------------------------------------

def read_facts(path):
    msgs, json_facts = {}, {}
    pkg = cur = None
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if not line:
                continue
            w = line.split()
            if w[0] == "package":
                pkg = w[1]
            elif w[0] == "gopackage":
                pass
            elif w[0] == "message":
                cur = pkg + "." + w[1]
                msgs[cur] = {"fields": [], "map_entry": False}
                json_facts[cur] = {}
            else:
                num, label, typ, js = int(w[0]), w[1], w[2], w[3]
                ptr = len(w) > 4 and w[4] == "ptr"
                jname, *opts = js.split(",")
                fd = {"name": jname, "number": num, "label": 3 if label in ("rep", "map") else 1}
                tname = typ[1:] if typ.startswith(".") else pkg + "." + typ

                def set_type(d, t):
                    if t in SCALARS:
                        d["type"] = SCALARS[t]
                    else:
                        d["type"] = T_MESSAGE
                        d["type_name"] = tname

                if label == "map":
                    entry = cur + "." + jname[0].upper() + jname[1:] + "Entry"
                    ev = {"name": "value", "number": 2, "label": 1}
                    set_type(ev, typ)
                    msgs[entry] = {"map_entry": True, "fields": [
                        {"name": "key", "number": 1, "label": 1, "type": 9}, ev]}
                    fd["type"], fd["type_name"] = T_MESSAGE, entry
                else:
                    set_type(fd, typ)
                msgs[cur]["fields"].append(fd)
                json_facts[cur][num] = (jname, "omitempty" in opts, ptr, False, None)
    return msgs, json_facts


# ---- Output ---------------------------------------------------------------------------------

TYPE_NAMES = {1: "DOUBLE", 2: "FLOAT", 3: "INT64", 4: "UINT64", 5: "INT32", 6: "FIXED64",
              7: "FIXED32", 8: "BOOL", 9: "STRING", 11: "MESSAGE", 12: "BYTES", 13: "UINT32",
              14: "ENUM", 15: "SFIXED32", 16: "SFIXED64", 17: "SINT32", 18: "SINT64"}


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kubectl", default="/usr/lib/google-cloud-sdk/bin/kubectl.1.32")
    ap.add_argument("--facts", default=os.path.join(HERE, "proto-facts", "apiextensions-v1.txt"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runtime", "apiserver", "proto_desc.c"))
    ap.add_argument("--any-version", action="store_true")
    args = ap.parse_args()

    ver = json.loads(subprocess.run([args.kubectl, "version", "--client", "-o", "json"],
                                    capture_output=True, check=True).stdout)["clientVersion"]
    if not ver["gitVersion"].startswith("v1.32.") and not args.any_version:
        sys.exit("expected kubectl v1.32.x, got %s (use --any-version)" % ver["gitVersion"])
    with open(args.kubectl, "rb") as f:
        data = f.read()
    msgs, _files = descriptors_from_binary(data)
    gb = GoBinary(data)
    gostructs = gb.structs()
    facts_msgs, facts_json = read_facts(args.facts)
    msgs.update(facts_msgs)

    def go_facts(full):
        if full in facts_json:
            return facts_json[full]
        pkg, _, name = full.rpartition(".")
        gopkg = "k8s.io/" + pkg[len("k8s.io."):].replace(".", "/")
        flds = gostructs.get((gopkg, name))
        return go_json_facts(gb, flds) if flds is not None else None

    # Roots: top-level kinds with ObjectMeta at field 1, and the extra roots.
    roots = []
    for full, m in sorted(msgs.items()):
        pkg, _, name = full.rpartition(".")
        if pkg not in GROUPS or name.endswith("List") or name in NOT_KINDS:
            continue
        f1 = next((f for f in m["fields"] if f["number"] == 1), None)
        if f1 and f1.get("type_name") == META + "ObjectMeta" and f1["name"] == "metadata":
            g, v = GROUPS[pkg]
            roots.append(((g + "/" + v) if g else v, name, full))
    roots += EXTRA_ROOTS

    # Closure over message references, in a stable order.
    order, index = [], {}
    pending = [r[2] for r in roots] + EXTRA_MESSAGES
    while pending:
        full = pending.pop(0)
        if full in index:
            continue
        if full not in msgs:
            sys.exit("message %s is not in the descriptors" % full)
        index[full] = len(order)
        order.append(full)
        for f in msgs[full]["fields"]:
            if f.get("type") == T_MESSAGE:
                pending.append(f["type_name"])

    field_rows, msg_rows, problems = [], [], []
    for full in order:
        m = msgs[full]
        special = SPECIAL.get(full, "MAPENTRY" if m["map_entry"] else "NONE")
        facts = None if m["map_entry"] or special != "NONE" else go_facts(full)
        if facts is None and special == "NONE":
            problems.append("no Go struct for %s" % full)
        first = len(field_rows)
        # Sorted by number for lookups; the declaration (Go struct) order is kept in `order`.
        decl = {f["number"]: k for k, f in enumerate(m["fields"])}
        for f in sorted(m["fields"], key=lambda f: f["number"]):
            t = f["type"]
            if t not in TYPE_NAMES:
                problems.append("%s.%s: unsupported type %d" % (full, f["name"], t))
                continue
            flags = []
            if f["label"] == 3:
                flags.append("REPEATED")
            sub = 0
            if t == T_MESSAGE:
                sub = index[f["type_name"]]
                if msgs[f["type_name"]]["map_entry"]:
                    flags.append("MAP")
            jname = f["name"]
            if facts is not None:
                jf = facts.get(f["number"], "missing")
                if jf == "missing":
                    problems.append("%s field %d (%s) has no Go field" % (full, f["number"],
                                                                          f["name"]))
                    jf = (f["name"], True, False, False, None)
                if jf is None:
                    continue  # json:"-"
                jname, omitempty, ptr, inline, pbname = jf
                if pbname is not None and pbname != f["name"]:
                    problems.append("%s field %d: descriptor says %s, Go tag says %s" %
                                    (full, f["number"], f["name"], pbname))
                if omitempty:
                    flags.append("OMITEMPTY")
                if ptr:
                    flags.append("PTR")
                if inline:
                    flags.append("INLINE")
                    jname = ""
            field_rows.append((f["number"], TYPE_NAMES[t], flags, sub, decl[f["number"]], jname,
                               full))
        if len(m["fields"]) > 64:
            problems.append("%s has more than KL_PB_MAX_FIELDS fields" % full)
        msg_rows.append((full, special, first, len(field_rows) - first))

    if problems:
        sys.exit("\n".join(problems))

    kinds = sorted(set((av, k, index[m]) for av, k, m in roots))
    out = []
    w = out.append
    w("/* Generated by scripts/gen-proto-descriptors.py - do not edit.")
    w(" *")
    w(" * Protobuf message table for the Kubernetes types whose protobuf request bodies the API")
    w(" * server decodes (see apiserver/proto.h). Facts from kubectl %s (gitCommit %s, k8s.io/api" %
      (ver["gitVersion"], ver["gitCommit"]))
    w(" * %s): gogo FileDescriptorProtos and Go struct tags; apiextensions.k8s.io/v1 from" %
      ("v0." + ver["gitVersion"][3:]))
    w(" * scripts/proto-facts/apiextensions-v1.txt. */")
    w("#include \"apiserver/proto_int.h\"")
    w("")
    w("const kl_pb_field_t kl__pb_fields[] = {")
    last = None
    for num, t, flags, sub, decl, jname, full in field_rows:
        if full != last:
            w("    /* %s */" % full)
            last = full
        fl = "|".join("KL_PBF_" + x for x in flags) or "0"
        w("    {%d, KL_PB_%s, %s, %d, %d, %s}," % (num, t, fl, decl, sub, c_str(jname)))
    w("};")
    w("")
    w("const uint8_t kl__pb_order[] = {")
    for full, special, first, n in msg_rows:
        rows = field_rows[first:first + n]
        perm = sorted(range(n), key=lambda k: rows[k][4])
        if perm:
            w("    %s," % ", ".join(str(k) for k in perm))
    w("};")
    w("")
    w("const kl_pb_msg_t kl__pb_msgs[] = {")
    for full, special, first, n in msg_rows:
        w("    {%s, KL_PBS_%s, %d, %d}," % (c_str(full), special, first, n))
    w("};")
    w("const size_t kl__pb_nmsgs = sizeof(kl__pb_msgs) / sizeof(kl__pb_msgs[0]);")
    w("")
    w("/* Sorted by apiVersion, then kind (\"*\": any apiVersion). */")
    w("const kl_pb_kind_t kl__pb_kinds[] = {")
    for av, k, mi in kinds:
        w("    {%s, %s, %d}," % (c_str(av), c_str(k), mi))
    w("};")
    w("const size_t kl__pb_nkinds = sizeof(kl__pb_kinds) / sizeof(kl__pb_kinds[0]);")
    text = "\n".join(out) + "\n"
    # House style: the tree's .clang-format, when clang-format is installed.
    try:
        text = subprocess.run(["clang-format", "--assume-filename=" + args.out], input=text,
                              capture_output=True, text=True, check=True, cwd=ROOT).stdout
    except (OSError, subprocess.CalledProcessError):
        print("clang-format not run", file=sys.stderr)
    with open(args.out, "w") as f:
        f.write(text)
    print("%s: %d messages, %d fields, %d kinds" % (args.out, len(msg_rows), len(field_rows),
                                                   len(kinds)))


if __name__ == "__main__":
    main()
