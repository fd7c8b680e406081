#!/usr/bin/python3
"""Generates lora4j's jextract-style FFM bindings from the pinned llama.cpp headers and the lora4j shim header.

Runs on libclang's Python bindings (Debian: apt-get install python3-clang-16 libclang1-16 libclang-16-dev) with
/usr/bin/python3. Output (all deterministic, no timestamps), under --out DIR (default: the bindings/ module):

  DIR/src/main/java/dev/lora4j/bindings/*.java   the bindings (the package directory is recreated)
  DIR/symbols.txt                                 every bound / skipped symbol with its kind, sorted
  DIR/generator/layout_check.c                    a C program printing sizeof/offsetof of every bound struct
  DIR/../java/src/main/java/dev/lora4j/{gguf/GgmlType,FileType}.java   their generated type tables (see TypeTables)

The llama.cpp source is found from: --llama-src DIR, env LLAMA_CPP_DIR, native/target/native.properties
(key source=), else ${LORA4J_CACHE:-$HOME/.cache/lora4j}/src/llama.cpp-<pinned tree>.
"""
import argparse
import ctypes
import os
import re
import shutil
import subprocess
import sys

PINNED_TREE = "fd570ef54b10ec5fecb739e7e04c8ce44a6f415a"
PACKAGE = "dev.lora4j.bindings"

HERE = os.path.dirname(os.path.abspath(__file__))
BINDINGS_DIR = os.path.dirname(HERE)
PROJECT_ROOT = os.path.dirname(BINDINGS_DIR)

# header (relative to the llama.cpp source, or the shim) -> Java class name, in output order
HEADERS = [
    ("include/llama.h", "llama_h"),
    ("ggml/include/ggml.h", "ggml_h"),
    ("ggml/include/ggml-backend.h", "ggml_backend_h"),
    ("ggml/include/ggml-opt.h", "ggml_opt_h"),
    ("ggml/include/ggml-rpc.h", "ggml_rpc_h"),
    ("ggml/include/gguf.h", "gguf_h"),
    ("@shim/lora4j.h", "lora4j_h"),
]

JAVA_KEYWORDS = set("""abstract assert boolean break byte case catch char class const continue default do double else
enum extends final finally float for goto if implements import instanceof int interface long native new package
private protected public return short static strictfp super switch synchronized this throw throws transient try void
volatile true false null var yield record sealed permits when _""".split())

# ---------------------------------------------------------------------------------------------------------------
# locating things


def find_llama_src(arg):
    if arg:
        return os.path.abspath(arg)
    env = os.environ.get("LLAMA_CPP_DIR")
    if env:
        return os.path.abspath(env)
    props = os.path.join(PROJECT_ROOT, "native", "target", "native.properties")
    if os.path.isfile(props):
        with open(props, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line.startswith("source="):
                    value = line[len("source="):].strip()
                    if value and os.path.isdir(value):
                        return os.path.abspath(value)
    cache = os.environ.get("LORA4J_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lora4j")
    return os.path.join(cache, "src", "llama.cpp-" + PINNED_TREE)


def tree_hash(src):
    try:
        out = subprocess.run(["git", "-C", src, "rev-parse", "HEAD^{tree}"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return PINNED_TREE


def load_clang():
    import clang.cindex as ci
    if not ci.Config.loaded:
        for cand in ("/usr/lib/llvm-16/lib/libclang-16.so.1", "/usr/lib/llvm-16/lib/libclang.so.1",
                     "/usr/lib/x86_64-linux-gnu/libclang-16.so.1", "/usr/lib/aarch64-linux-gnu/libclang-16.so.1"):
            if os.path.exists(cand):
                ci.Config.set_library_file(cand)
                break
    return ci


def clang_resource_include():
    for cand in ("/usr/lib/llvm-16/lib/clang/16/include", "/usr/lib/clang/16/include"):
        if os.path.isdir(cand):
            return cand
    try:
        out = subprocess.run(["clang", "-print-resource-dir"], capture_output=True, text=True, check=True)
        return os.path.join(out.stdout.strip(), "include")
    except (OSError, subprocess.CalledProcessError):
        return None

# ---------------------------------------------------------------------------------------------------------------
# macro evaluation through clang_Cursor_Evaluate


class Evaluator:
    def __init__(self, ci):
        lib = ci.conf.lib
        self.lib = lib
        lib.clang_Cursor_Evaluate.argtypes = [ci.Cursor]
        lib.clang_Cursor_Evaluate.restype = ctypes.c_void_p
        lib.clang_EvalResult_getKind.argtypes = [ctypes.c_void_p]
        lib.clang_EvalResult_getKind.restype = ctypes.c_int
        lib.clang_EvalResult_isUnsignedInt.argtypes = [ctypes.c_void_p]
        lib.clang_EvalResult_isUnsignedInt.restype = ctypes.c_uint
        lib.clang_EvalResult_getAsUnsigned.argtypes = [ctypes.c_void_p]
        lib.clang_EvalResult_getAsUnsigned.restype = ctypes.c_ulonglong
        lib.clang_EvalResult_getAsLongLong.argtypes = [ctypes.c_void_p]
        lib.clang_EvalResult_getAsLongLong.restype = ctypes.c_longlong
        lib.clang_EvalResult_getAsDouble.argtypes = [ctypes.c_void_p]
        lib.clang_EvalResult_getAsDouble.restype = ctypes.c_double
        lib.clang_EvalResult_dispose.argtypes = [ctypes.c_void_p]
        lib.clang_EvalResult_dispose.restype = None

    def evaluate(self, cursor):
        """(kind, value) with kind 'int' or 'float', or None."""
        res = self.lib.clang_Cursor_Evaluate(cursor)
        if not res:
            return None
        try:
            kind = self.lib.clang_EvalResult_getKind(res)
            if kind == 1:  # CXEval_Int
                if self.lib.clang_EvalResult_isUnsignedInt(res):
                    return ("int", self.lib.clang_EvalResult_getAsUnsigned(res))
                return ("int", self.lib.clang_EvalResult_getAsLongLong(res))
            if kind == 2:  # CXEval_Float
                return ("float", self.lib.clang_EvalResult_getAsDouble(res))
            return None
        finally:
            self.lib.clang_EvalResult_dispose(res)

# ---------------------------------------------------------------------------------------------------------------
# model


class JType:
    """A C type as Java sees it: java type, layout expression, and what kind of thing it is."""

    def __init__(self, kind, java, layout, struct=None, elem=None, dims=None, ctype=None):
        self.kind = kind          # 'scalar', 'pointer', 'struct', 'array'
        self.java = java          # Java carrier type
        self.layout = layout      # Java expression giving the layout
        self.struct = struct      # Struct for kind == 'struct'
        self.elem = elem          # element JType for arrays (innermost)
        self.dims = dims or []    # array dimensions
        self.ctype = ctype


SCALARS = {
    "BOOL": ("boolean", "CTypes.C_BOOL", "OfBoolean"),
    "CHAR_S": ("byte", "CTypes.C_CHAR", "OfByte"),
    "CHAR_U": ("byte", "CTypes.C_CHAR", "OfByte"),
    "SCHAR": ("byte", "CTypes.C_CHAR", "OfByte"),
    "UCHAR": ("byte", "CTypes.C_CHAR", "OfByte"),
    "SHORT": ("short", "CTypes.C_SHORT", "OfShort"),
    "USHORT": ("short", "CTypes.C_SHORT", "OfShort"),
    "INT": ("int", "CTypes.C_INT", "OfInt"),
    "UINT": ("int", "CTypes.C_INT", "OfInt"),
    "LONG": ("long", "CTypes.C_LONG", "OfLong"),
    "ULONG": ("long", "CTypes.C_LONG", "OfLong"),
    "LONGLONG": ("long", "CTypes.C_LONG_LONG", "OfLong"),
    "ULONGLONG": ("long", "CTypes.C_LONG_LONG", "OfLong"),
    "FLOAT": ("float", "CTypes.C_FLOAT", "OfFloat"),
    "DOUBLE": ("double", "CTypes.C_DOUBLE", "OfDouble"),
}
LAYOUT_CLASS = {v[1]: v[2] for v in SCALARS.values()}
LAYOUT_CLASS["CTypes.C_POINTER"] = "AddressLayout"


class Field:
    def __init__(self, name, jtype, offset, size, cexpr):
        self.name = name
        self.jtype = jtype
        self.offset = offset      # bytes, from the start of the enclosing record
        self.size = size
        self.cexpr = cexpr        # C member designator (for offsetof)
        self.anon = None          # Struct for an anonymous union/struct member (flattened)
        self.callback = None      # Callback for an inline function-pointer field


class Struct:
    def __init__(self, name, cname, is_union, header, cursor):
        self.name = name          # Java class name
        self.cname = cname        # C type expression ("struct x" or a typedef name)
        self.is_union = is_union
        self.header = header
        self.cursor = cursor
        self.fields = []
        self.size = 0
        self.align = 1
        self.nested = []          # Structs for named fields of anonymous record type (nested classes)
        self.outer = None


class Callback:
    def __init__(self, name, header, ret, params, csig):
        self.name = name
        self.header = header
        self.ret = ret            # JType or None
        self.params = params      # [(name, JType)]
        self.csig = csig


class Function:
    def __init__(self, name, header, ret, params, variadic, csig):
        self.name = name
        self.header = header
        self.ret = ret
        self.params = params
        self.variadic = variadic
        self.csig = csig


class Constant:
    def __init__(self, name, header, jtype, value, comment):
        self.name = name
        self.header = header
        self.jtype = jtype        # 'int', 'long', 'float', 'double', 'String'
        self.value = value
        self.comment = comment

# ---------------------------------------------------------------------------------------------------------------


def is_anon_record(c):
    """Whether a struct/union declaration has no tag (clang 16 gives a typedef-named one the typedef's spelling)."""
    if c.is_anonymous() or not c.spelling or "(unnamed" in c.spelling or "(anonymous" in c.spelling:
        return True
    toks = [t.spelling for t in c.get_tokens()][:2]
    return len(toks) == 2 and toks[1] == "{"


def java_name(name, index, used):
    if not name:
        name = "x%d" % index
    if name in JAVA_KEYWORDS:
        name = name + "_"
    while name in used:
        name = name + "_"
    used.add(name)
    return name


def java_double(v):
    if v != v:
        return "Double.NaN"
    if v in (float("inf"), float("-inf")):
        return "Double.POSITIVE_INFINITY" if v > 0 else "Double.NEGATIVE_INFINITY"
    return repr(float(v)) + "d"


def java_float(v):
    if v != v:
        return "Float.NaN"
    if v in (float("inf"), float("-inf")):
        return "Float.POSITIVE_INFINITY" if v > 0 else "Float.NEGATIVE_INFINITY"
    return repr(float(v)) + "f"


def java_string(s):
    out = []
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 32 <= o < 127:
            out.append(ch)
        else:
            out.append("\\u%04x" % o)
    return '"' + "".join(out) + '"'


def javadoc_c(text):
    text = " ".join(text.split())
    text = text.replace("*/", "* /").replace("@", "&#64;")
    # {@snippet ...} needs balanced braces
    if text.count("{") != text.count("}"):
        text = text.replace("{", "(").replace("}", ")")
    return "/** {@snippet lang=c : %s } */" % text


class Generator:
    def __init__(self, ci, src, shim_dir):
        self.ci = ci
        self.src = src
        self.shim_dir = shim_dir
        self.header_paths = {}   # realpath -> (header display name, class)
        for rel, cls in HEADERS:
            if rel.startswith("@shim/"):
                path = os.path.join(shim_dir, rel[len("@shim/"):])
            else:
                path = os.path.join(src, rel)
            self.header_paths[os.path.realpath(path)] = (os.path.basename(path), cls)
        self.structs = {}        # java name -> Struct
        # clang names an unnamed struct by where it is ("struct (unnamed struct at /abs/path/ggml.h:86:9)"): the
        # output must not depend on where the source lies (the cache differs per machine and $LORA4J_CACHE)
        self.src_prefixes = sorted({os.path.join(src, ""), os.path.join(os.path.realpath(src), "")}, key=len, reverse=True)
        self.struct_by_decl = {}  # decl usr/hash -> Struct
        self.struct_order = []
        self.callbacks = {}
        self.functions = []
        self.constants = []
        self.skipped = []        # (name, kind, reason)
        self.include_args = ["-I" + os.path.join(src, "include"), "-I" + os.path.join(src, "ggml", "include"),
                             "-I" + shim_dir]
        res = clang_resource_include()
        self.args = ["-x", "c", "-std=c11"] + self.include_args + (["-isystem", res] if res else [])

    # --- helpers ---
    def source_relative(self, text):
        """text with every path into the llama.cpp source made relative to it."""
        for prefix in self.src_prefixes:
            text = text.replace(prefix, "")
        return text

    def header_of(self, cursor):
        loc = cursor.location
        if loc.file is None:
            return None
        return self.header_paths.get(os.path.realpath(loc.file.name))

    def decl_key(self, decl):
        return decl.get_usr() or ("%s:%d:%d" % (decl.location.file.name if decl.location.file else "",
                                                 decl.location.line, decl.location.column))

    def map_type(self, t, where):
        ci = self.ci
        K = ci.TypeKind
        c = t.get_canonical()
        k = c.kind
        if k.name in SCALARS:
            java, layout, _ = SCALARS[k.name]
            return JType("scalar", java, layout, ctype=t.spelling)
        if k == K.ENUM:
            ik = c.get_declaration().enum_type.get_canonical().kind
            if ik.name in SCALARS:
                java, layout, _ = SCALARS[ik.name]
                return JType("scalar", java, layout, ctype=t.spelling)
            return JType("scalar", "int", "CTypes.C_INT", ctype=t.spelling)
        if k in (K.POINTER, K.BLOCKPOINTER):
            return JType("pointer", "MemorySegment", "CTypes.C_POINTER", ctype=t.spelling)
        if k == K.RECORD:
            s = self.struct_for(c.get_declaration(), where)
            if s is None:
                raise ValueError("incomplete record type %s in %s" % (t.spelling, where))
            return JType("struct", "MemorySegment", s.name + ".layout()", struct=s, ctype=t.spelling)
        if k in (K.CONSTANTARRAY,):
            elem = self.map_type(c.element_type, where)
            n = c.element_count
            if elem.kind == "array":
                return JType("array", "MemorySegment",
                             "MemoryLayout.sequenceLayout(%d, %s)" % (n, elem.layout),
                             elem=elem.elem, dims=[n] + elem.dims, ctype=t.spelling)
            return JType("array", "MemorySegment", "MemoryLayout.sequenceLayout(%d, %s)" % (n, elem.layout),
                         elem=elem, dims=[n], ctype=t.spelling)
        if k in (K.INCOMPLETEARRAY, K.VARIABLEARRAY, K.DEPENDENTSIZEDARRAY):
            return JType("pointer", "MemorySegment", "CTypes.C_POINTER", ctype=t.spelling)
        raise ValueError("unsupported type %s (%s) in %s" % (t.spelling, k, where))

    # --- structs ---
    def struct_for(self, decl, where, outer=None, field_name=None):
        ci = self.ci
        defn = decl.get_definition()
        if defn is None:
            return None
        key = self.decl_key(defn)
        if key in self.struct_by_decl:
            return self.struct_by_decl[key]
        is_union = defn.kind == ci.CursorKind.UNION_DECL
        name = defn.spelling
        anonymous = is_anon_record(defn)
        cname = ("union " if is_union else "struct ") + name if not anonymous else None
        if anonymous and outer is None:
            # typedef struct { ... } name;  -> find the typedef naming it
            tname = self.typedef_names.get(key)
            if tname is None:
                raise ValueError("anonymous record without a name used in %s" % where)
            name, cname = tname, tname
        elif anonymous:
            name = field_name
        hdr = self.header_of(defn)
        s = Struct(name, cname, is_union, hdr, defn)
        s.outer = outer
        self.struct_by_decl[key] = s
        if outer is None:
            if name in self.structs:
                raise ValueError("duplicate struct class name " + name)
            self.structs[name] = s
        self.fill_struct(s, defn)
        if outer is None:
            self.struct_order.append(s)
        return s

    def fill_struct(self, s, defn, ):
        ci = self.ci
        t = defn.type
        s.size = t.get_size()
        s.align = t.get_align()
        for i, f in enumerate(t.get_fields()):
            off_bits = f.get_field_offsetof()
            if f.is_bitfield():
                raise ValueError("bitfield %s.%s is not supported" % (s.name, f.spelling))
            off = off_bits // 8
            ft = f.type.get_canonical()
            if not f.spelling:
                # anonymous union/struct member: flattened through a group named $anon$line:col
                adecl = ft.get_declaration()
                anon = Struct("$anon$%d:%d" % (adecl.location.line, adecl.location.column), None,
                              adecl.kind == ci.CursorKind.UNION_DECL, s.header, adecl)
                anon.outer = s
                self.fill_struct(anon, adecl)
                fld = Field(anon.name, None, off, anon.size, None)
                fld.anon = anon
                s.fields.append(fld)
                continue
            if ft.kind == ci.TypeKind.RECORD:
                adecl = ft.get_declaration()
                if is_anon_record(adecl):
                    nested = self.struct_for(adecl, s.name + "." + f.spelling, outer=s, field_name=f.spelling)
                    s.nested.append(nested)
                    jt = JType("struct", "MemorySegment", "%s.%s.layout()" % (s.name, nested.name), struct=nested,
                               ctype=f.type.spelling)
                    s.fields.append(Field(f.spelling, jt, off, ft.get_size(), f.spelling))
                    continue
            jt = self.map_type(f.type, "%s.%s" % (s.name, f.spelling))
            fld = Field(f.spelling, jt, off, ft.get_size(), f.spelling)
            # inline function pointer field (not through a typedef): nested callback class, as jextract does
            if jt.kind == "pointer" and f.type.kind == ci.TypeKind.POINTER:
                pointee = f.type.get_pointee()
                if pointee.kind in (ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO):
                    fld.callback = self.make_callback(f.spelling, s.header, pointee, f, "%s.%s" % (s.name, f.spelling))
            s.fields.append(fld)

    # --- callbacks ---
    def make_callback(self, name, header, ftype, cursor, where):
        ci = self.ci
        ret = None if ftype.get_result().get_canonical().kind == ci.TypeKind.VOID else self.map_type(ftype.get_result(), where)
        pnames = [c.spelling for c in cursor.get_children() if c.kind == ci.CursorKind.PARM_DECL]
        argtypes = list(ftype.argument_types()) if ftype.kind == ci.TypeKind.FUNCTIONPROTO else []
        if len(pnames) != len(argtypes):
            pnames = [""] * len(argtypes)
        used = set()
        params = []
        for i, (pn, at) in enumerate(zip(pnames, argtypes)):
            params.append((java_name(pn, i, used), self.map_type(at, where)))
        if ftype.kind == ci.TypeKind.FUNCTIONPROTO and ftype.is_function_variadic():
            raise ValueError("variadic callback %s" % where)
        csig = "%s (*%s)(%s)" % (ftype.get_result().spelling, name,
                                 ", ".join(("%s %s" % (at.spelling, pn)).strip() for pn, at in zip(pnames, argtypes)))
        return Callback(name, header, ret, params, csig)

    # --- parse ---
    def run(self):
        ci = self.ci
        idx = ci.Index.create()
        includes = []
        for rel, _ in HEADERS:
            if rel.startswith("@shim/"):
                includes.append('#include "%s"' % rel[len("@shim/"):])
            else:
                includes.append('#include "%s"' % os.path.basename(rel))
        main = "\n".join(includes) + "\n"
        opts = ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD | ci.TranslationUnit.PARSE_SKIP_FUNCTION_BODIES
        tu = idx.parse("lora4j_bindings.c", args=self.args, unsaved_files=[("lora4j_bindings.c", main)], options=opts)
        errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
        if errors:
            raise SystemExit("libclang errors:\n" + "\n".join(str(d) for d in errors))
        top = list(tu.cursor.get_children())

        # typedef names of anonymous records
        self.typedef_names = {}
        for c in top:
            if c.kind == ci.CursorKind.TYPEDEF_DECL:
                ut = c.underlying_typedef_type.get_canonical()
                if ut.kind == ci.TypeKind.RECORD:
                    d = ut.get_declaration().get_definition()
                    if d is not None and is_anon_record(d):
                        self.typedef_names.setdefault(self.decl_key(d), c.spelling)

        seen_funcs = set()
        seen_enums = set()
        for c in top:
            hdr = self.header_of(c)
            if hdr is None:
                continue
            K = ci.CursorKind
            if c.kind in (K.STRUCT_DECL, K.UNION_DECL) and c.is_definition():
                if is_anon_record(c):
                    if self.decl_key(c) not in self.typedef_names:
                        continue
                self.struct_for(c, c.spelling)
            elif c.kind == K.TYPEDEF_DECL:
                ut = c.underlying_typedef_type
                can = ut.get_canonical()
                ftype = None
                if can.kind == ci.TypeKind.POINTER and can.get_pointee().kind in (ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO):
                    ftype = can.get_pointee()
                elif can.kind in (ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO):
                    ftype = can
                if ftype is not None and c.spelling not in self.callbacks:
                    # a typedef of a typedef'd function pointer names the same callback again: bind each name
                    self.callbacks[c.spelling] = self.make_callback(c.spelling, hdr, ftype, c, c.spelling)
                elif can.kind == ci.TypeKind.RECORD:
                    d = can.get_declaration().get_definition()
                    if d is not None and self.header_of(d) is not None:
                        self.struct_for(d, c.spelling)
            elif c.kind == K.ENUM_DECL and c.is_definition():
                key = self.decl_key(c)
                if key in seen_enums:
                    continue
                seen_enums.add(key)
                for e in c.get_children():
                    if e.kind == K.ENUM_CONSTANT_DECL:
                        v = e.enum_value
                        jt = "int" if -(1 << 31) <= v < (1 << 32) else "long"
                        if jt == "int" and v >= (1 << 31):
                            v -= (1 << 32)
                        self.constants.append(Constant(e.spelling, hdr, jt, v, "enum %s.%s = %d" % (c.spelling or "<anonymous>", e.spelling, e.enum_value)))
            elif c.kind == K.FUNCTION_DECL:
                if c.spelling in seen_funcs:
                    continue
                seen_funcs.add(c.spelling)
                if c.storage_class == ci.StorageClass.STATIC:
                    self.skipped.append((c.spelling, "function", "static inline function (no exported symbol)"))
                    continue
                self.functions.append(self.make_function(c, hdr))
            elif c.kind == K.VAR_DECL:
                self.skipped.append((c.spelling, "variable", "global variable (not bound)"))
        self.collect_macros(tu, idx)

    def make_function(self, c, hdr):
        ci = self.ci
        ftype = c.type
        where = c.spelling
        rt = ftype.get_result()
        ret = None if rt.get_canonical().kind == ci.TypeKind.VOID else self.map_type(rt, where)
        used = set()
        params = []
        args = list(c.get_arguments())
        for i, a in enumerate(args):
            params.append((java_name(a.spelling, i, used), self.map_type(a.type, where)))
        variadic = ftype.kind == ci.TypeKind.FUNCTIONPROTO and ftype.is_function_variadic()
        csig = "%s %s(%s%s)" % (rt.spelling, c.spelling,
                                ", ".join(("%s %s" % (a.type.spelling, a.spelling)).strip() for a in args),
                                (", ..." if args else "...") if variadic else ("" if args else "void"))
        return Function(c.spelling, hdr, ret, params, variadic, csig)

    def collect_macros(self, tu, idx):
        ci = self.ci
        cands = []
        seen = set()
        for c in tu.cursor.get_children():
            if c.kind != ci.CursorKind.MACRO_DEFINITION:
                continue
            hdr = self.header_of(c)
            if hdr is None:
                continue
            toks = list(c.get_tokens())
            if not toks:
                continue
            name = toks[0].spelling
            body = toks[1:]
            if not body:
                continue  # no value (include guards, empty markers)
            if body[0].spelling == "(":
                # function-like when '(' follows the name without whitespace
                nend = toks[0].extent.end
                pstart = body[0].extent.start
                if nend.line == pstart.line and nend.column == pstart.column:
                    self.skipped.append((name, "macro", "function-like macro"))
                    continue
            if name in seen:
                continue
            seen.add(name)
            cands.append((name, hdr, body))
        # string literal macros, by tokens
        numeric = []
        for name, hdr, body in cands:
            if all(t.kind == ci.TokenKind.LITERAL and t.spelling.startswith('"') for t in body):
                try:
                    val = "".join(decode_c_string(t.spelling) for t in body)
                except ValueError:
                    self.skipped.append((name, "macro", "unsupported string literal"))
                    continue
                self.constants.append(Constant(name, hdr, "String", val, "#define %s %s" % (name, join_tokens(body))))
            else:
                numeric.append((name, hdr, body))
        # numeric ones: let clang evaluate "static const __auto_type NAME = (NAME);" after including the headers
        lines = []
        for rel, _ in HEADERS:
            lines.append('#include "%s"' % (rel[len("@shim/"):] if rel.startswith("@shim/") else os.path.basename(rel)))
        for name, _, _ in numeric:
            lines.append("static const __auto_type lora4j_macro_%s = (%s);" % (name, name))
        text = "\n".join(lines) + "\n"
        tu2 = idx.parse("lora4j_macros.c", args=self.args + ["-Wno-everything"],
                        unsaved_files=[("lora4j_macros.c", text)], options=ci.TranslationUnit.PARSE_SKIP_FUNCTION_BODIES)
        ev = Evaluator(ci)
        vars_ = {}
        bad_lines = set()
        for d in tu2.diagnostics:
            if d.severity >= ci.Diagnostic.Error and d.location.file is not None and d.location.file.name == "lora4j_macros.c":
                bad_lines.add(d.location.line)
        for c in tu2.cursor.get_children():
            if c.kind == ci.CursorKind.VAR_DECL and c.spelling.startswith("lora4j_macro_") and c.location.file is not None \
                    and c.location.file.name == "lora4j_macros.c":
                vars_[c.spelling[len("lora4j_macro_"):]] = c
        for name, hdr, body in numeric:
            cur = vars_.get(name)
            text_body = join_tokens(body)
            if cur is None or cur.location.line in bad_lines:
                self.skipped.append((name, "macro", "not a constant expression"))
                continue
            kind = cur.type.get_canonical().kind.name
            r = ev.evaluate(cur)
            if r is None:
                self.skipped.append((name, "macro", "not a constant expression"))
                continue
            comment = "#define %s %s" % (name, text_body)
            if kind in ("INT", "UINT", "SHORT", "USHORT", "CHAR_S", "CHAR_U", "SCHAR", "UCHAR", "BOOL"):
                v = int(r[1]) & 0xFFFFFFFF
                if v >= 1 << 31:
                    v -= 1 << 32
                self.constants.append(Constant(name, hdr, "int", v, comment))
            elif kind in ("LONG", "ULONG", "LONGLONG", "ULONGLONG"):
                v = int(r[1]) & 0xFFFFFFFFFFFFFFFF
                if v >= 1 << 63:
                    v -= 1 << 64
                self.constants.append(Constant(name, hdr, "long", v, comment))
            elif kind == "FLOAT":
                self.constants.append(Constant(name, hdr, "float", r[1], comment))
            elif kind == "DOUBLE":
                self.constants.append(Constant(name, hdr, "double", r[1], comment))
            else:
                self.skipped.append((name, "macro", "constant of unsupported type " + cur.type.spelling))


def join_tokens(toks):
    """Token spellings joined as written (a space only where the source has whitespace)."""
    out = []
    prev = None
    for t in toks:
        if prev is not None:
            pe, ts = prev.extent.end, t.extent.start
            if not (pe.line == ts.line and pe.column == ts.column):
                out.append(" ")
        out.append(t.spelling)
        prev = t
    return "".join(out)


def decode_c_string(tok):
    if not (tok.startswith('"') and tok.endswith('"')):
        raise ValueError(tok)
    s = tok[1:-1]
    out = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b",
              "f": "\f", "v": "\v", "?": "?"}
    while i < len(s):
        ch = s[i]
        if ch == "\\":
            nx = s[i + 1]
            if nx in "01234567" and nx != "0" or (nx == "0" and i + 2 < len(s) and s[i + 2] in "01234567"):
                m = re.match(r"[0-7]{1,3}", s[i + 1:])
                out.append(chr(int(m.group(0), 8)))
                i += 1 + len(m.group(0))
                continue
            if nx == "x":
                m = re.match(r"[0-9a-fA-F]+", s[i + 2:])
                out.append(chr(int(m.group(0), 16)))
                i += 2 + len(m.group(0))
                continue
            if nx not in simple:
                raise ValueError(tok)
            out.append(simple[nx])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)

# ---------------------------------------------------------------------------------------------------------------
# emitting Java


IMPORTS = """import java.lang.foreign.*;
import java.lang.invoke.*;
import java.util.function.*;

import static java.lang.foreign.MemoryLayout.PathElement.*;
import static java.lang.foreign.ValueLayout.*;
"""


class Out:
    def __init__(self):
        self.lines = []

    def __call__(self, indent, text=""):
        for line in text.split("\n"):
            self.lines.append(("    " * indent + line) if line else "")

    def text(self):
        return "\n".join(self.lines) + "\n"


class Emitter:
    def __init__(self, gen, tree):
        self.gen = gen
        self.tree = tree
        self.files = {}       # relative path -> text
        self.class_names = set(gen.structs) | set(gen.callbacks) | {cls for _, cls in HEADERS} | {"CTypes"}

    def banner(self, headers):
        return ("// Generated by bindings/generator/generate.py from %s (llama.cpp tree %s). DO NOT EDIT.\n"
                % (", ".join(headers), self.tree))

    def file_start(self, headers):
        return self.banner(headers) + "\npackage %s;\n\n%s\n" % (PACKAGE, IMPORTS)

    def all_header_names(self):
        return [os.path.basename(rel[len("@shim/"):] if rel.startswith("@shim/") else rel) for rel, _ in HEADERS]

    # ---- CTypes ----
    def emit_ctypes(self):
        o = Out()
        o(0, "/** The C types of the bound headers (LP64), as FFM layouts. Loads no native code. */")
        o(0, '@SuppressWarnings("restricted")')
        o(0, "public final class CTypes {")
        o(1, "private CTypes() {}")
        o(0)
        o(1, "public static final ValueLayout.OfBoolean C_BOOL = ValueLayout.JAVA_BOOLEAN;")
        o(1, "public static final ValueLayout.OfByte C_CHAR = ValueLayout.JAVA_BYTE;")
        o(1, "public static final ValueLayout.OfShort C_SHORT = ValueLayout.JAVA_SHORT;")
        o(1, "public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;")
        o(1, "public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;")
        o(1, "public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;")
        o(1, "public static final ValueLayout.OfFloat C_FLOAT = ValueLayout.JAVA_FLOAT;")
        o(1, "public static final ValueLayout.OfDouble C_DOUBLE = ValueLayout.JAVA_DOUBLE;")
        o(1, "public static final AddressLayout C_POINTER = ValueLayout.ADDRESS")
        o(3, ".withTargetLayout(MemoryLayout.sequenceLayout(Long.MAX_VALUE, ValueLayout.JAVA_BYTE));")
        o(0)
        o(1, "/** The lookup over lora4j's natives; the first use of {@code SYMBOL_LOOKUP} loads them. */")
        o(1, "static final class Symbols {")
        o(2, "private Symbols() {}")
        o(0)
        o(2, "static final SymbolLookup SYMBOL_LOOKUP = dev.lora4j.loader.NativeLibraries.lookup();")
        o(1, "}")
        o(0)
        o(1, "/** The address of {@code name} in lora4j's natives (loading them on first use). */")
        o(1, "static MemorySegment findOrThrow(String name) {")
        o(2, 'return Symbols.SYMBOL_LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError("unresolved symbol: " + name));')
        o(1, "}")
        o(0, "}")
        self.files["CTypes.java"] = self.file_start(self.all_header_names()) + o.text()

    # ---- layouts ----
    def group_layout_expr(self, s, indent):
        """Lines of the MemoryLayout.structLayout/unionLayout(...) expression for s."""
        items = []
        pos = 0
        for f in s.fields:
            if not s.is_union and f.offset > pos:
                items.append("MemoryLayout.paddingLayout(%d)" % (f.offset - pos))
            if f.anon is not None:
                inner = self.group_layout_expr(f.anon, indent + 1)
                items.append(inner + '.withName("%s")' % f.name)
            else:
                items.append('%s.withName("%s")' % (f.jtype.layout, f.name))
            if s.is_union:
                pos = max(pos, f.size)
            else:
                pos = f.offset + f.size
        if pos < s.size:
            items.append("MemoryLayout.paddingLayout(%d)" % (s.size - pos))
        fn = "unionLayout" if s.is_union else "structLayout"
        pad = "    " * (indent + 1)
        return "MemoryLayout.%s(\n%s%s\n%s)" % (fn, pad, (",\n" + pad).join(items), "    " * indent)

    def flat_fields(self, s, path=()):
        """(field, layout path tuple, absolute offset) for every named field, anonymous members flattened."""
        out = []
        for f in s.fields:
            if f.anon is not None:
                for sub, p, off in self.flat_fields(f.anon, path + (f.name,)):
                    out.append((sub, p, f.offset + off))
            else:
                out.append((f, path + (f.name,), f.offset))
        return out

    def emit_struct_body(self, o, s, ind, fq):
        g = self.gen
        o(ind, "private static final GroupLayout $LAYOUT = %s.withName(\"%s\");" % (
            self.group_layout_expr(s, ind), s.cname.split(" ")[-1] if s.cname else s.name))
        o(0)
        o(ind, "/** The layout of this " + ("union" if s.is_union else "struct") + " */")
        o(ind, "public static final GroupLayout layout() {")
        o(ind + 1, "return $LAYOUT;")
        o(ind, "}")
        for f, path, off in self.flat_fields(s):
            o(0)
            self.emit_field(o, s, f, path, off, ind)
        for n in s.nested:
            o(0)
            self.emit_nested_struct(o, n, ind, fq + "." + n.name)
        o(0)
        o(ind, "/** Finds the element at {@code index} in an array of these, starting at {@code array} */")
        o(ind, "public static MemorySegment asSlice(MemorySegment array, long index) {")
        o(ind + 1, "return array.asSlice(layout().byteSize() * index);")
        o(ind, "}")
        o(0)
        o(ind, "/** The size (in bytes) of this " + ("union" if s.is_union else "struct") + " */")
        o(ind, "public static long sizeof() { return layout().byteSize(); }")
        o(0)
        o(ind, "/** Allocate a segment of size {@code layout().byteSize()} using {@code allocator} */")
        o(ind, "public static MemorySegment allocate(SegmentAllocator allocator) {")
        o(ind + 1, "return allocator.allocate(layout());")
        o(ind, "}")
        o(0)
        o(ind, "/** Allocate an array of size {@code elementCount} using {@code allocator} */")
        o(ind, "public static MemorySegment allocateArray(long elementCount, SegmentAllocator allocator) {")
        o(ind + 1, "return allocator.allocate(MemoryLayout.sequenceLayout(elementCount, layout()));")
        o(ind, "}")
        o(0)
        o(ind, "/** Reinterprets {@code addr} using target {@code arena} and {@code cleanupAction} (if any) */")
        o(ind, "public static MemorySegment reinterpret(MemorySegment addr, Arena arena, Consumer<MemorySegment> cleanup) {")
        o(ind + 1, "return reinterpret(addr, 1, arena, cleanup);")
        o(ind, "}")
        o(0)
        o(ind, "/** Reinterprets {@code addr} as an array of {@code elementCount}, using target {@code arena} and {@code cleanupAction} (if any) */")
        o(ind, "public static MemorySegment reinterpret(MemorySegment addr, long elementCount, Arena arena, Consumer<MemorySegment> cleanup) {")
        o(ind + 1, "return addr.reinterpret(layout().byteSize() * elementCount, arena, cleanup);")
        o(ind, "}")

    def emit_nested_struct(self, o, n, ind, fq):
        o(ind, "/** {@snippet lang=c : %s %s } */" % ("union" if n.is_union else "struct", "{ ... } " + n.name))
        o(ind, "public static final class %s {" % n.name)
        o(ind + 1, "private %s() {}" % n.name)
        o(0)
        self.emit_struct_body(o, n, ind + 1, fq)
        o(ind, "}")

    def emit_field(self, o, s, f, path, off, ind):
        jt = f.jtype
        n = f.name
        sel = ", ".join('groupElement("%s")' % p for p in path)
        cdecl = "%s %s" % (jt.ctype, n) if jt.kind != "array" else "%s %s%s" % (
            jt.ctype.split("[")[0].strip(), n, "".join("[%d]" % d for d in jt.dims))
        cdecl = self.gen.source_relative(cdecl)
        doc = javadoc_c(cdecl)
        if jt.kind in ("scalar", "pointer"):
            lc = LAYOUT_CLASS[jt.layout]
            o(ind, "private static final %s %s$LAYOUT = (%s)$LAYOUT.select(%s);" % (lc, n, lc, sel))
            o(0)
            o(ind, "/** Layout for field: " + doc[4:])
            o(ind, "public static final %s %s$layout() { return %s$LAYOUT; }" % (lc, n, n))
            o(0)
            o(ind, "private static final long %s$OFFSET = %d;" % (n, off))
            o(0)
            o(ind, "/** Offset for field: " + doc[4:])
            o(ind, "public static final long %s$offset() { return %s$OFFSET; }" % (n, n))
            o(0)
            o(ind, "/** Getter for field: " + doc[4:])
            o(ind, "public static %s %s(MemorySegment struct) { return struct.get(%s$LAYOUT, %s$OFFSET); }" % (jt.java, n, n, n))
            o(0)
            o(ind, "/** Setter for field: " + doc[4:])
            o(ind, "public static void %s(MemorySegment struct, %s fieldValue) { struct.set(%s$LAYOUT, %s$OFFSET, fieldValue); }" % (n, jt.java, n, n))
            if f.callback is not None:
                o(0)
                self.emit_callback_class(o, f.callback, ind, nested=True)
        elif jt.kind == "struct":
            o(ind, "private static final GroupLayout %s$LAYOUT = (GroupLayout)$LAYOUT.select(%s);" % (n, sel))
            o(0)
            o(ind, "/** Layout for field: " + doc[4:])
            o(ind, "public static final GroupLayout %s$layout() { return %s$LAYOUT; }" % (n, n))
            o(0)
            o(ind, "private static final long %s$OFFSET = %d;" % (n, off))
            o(0)
            o(ind, "/** Offset for field: " + doc[4:])
            o(ind, "public static final long %s$offset() { return %s$OFFSET; }" % (n, n))
            o(0)
            o(ind, "/** Getter for field (a slice of {@code struct}): " + doc[4:])
            o(ind, "public static MemorySegment %s(MemorySegment struct) { return struct.asSlice(%s$OFFSET, %s$LAYOUT.byteSize()); }" % (n, n, n))
            o(0)
            o(ind, "/** Setter for field (copies {@code fieldValue}): " + doc[4:])
            o(ind, "public static void %s(MemorySegment struct, MemorySegment fieldValue) { MemorySegment.copy(fieldValue, 0L, struct, %s$OFFSET, %s$LAYOUT.byteSize()); }" % (n, n, n))
        else:  # array
            o(ind, "private static final SequenceLayout %s$LAYOUT = (SequenceLayout)$LAYOUT.select(%s);" % (n, sel))
            o(0)
            o(ind, "/** Layout for field: " + doc[4:])
            o(ind, "public static final SequenceLayout %s$layout() { return %s$LAYOUT; }" % (n, n))
            o(0)
            o(ind, "private static final long %s$OFFSET = %d;" % (n, off))
            o(0)
            o(ind, "/** Offset for field: " + doc[4:])
            o(ind, "public static final long %s$offset() { return %s$OFFSET; }" % (n, n))
            o(0)
            o(ind, "/** Getter for field (a slice of {@code struct}): " + doc[4:])
            o(ind, "public static MemorySegment %s(MemorySegment struct) { return struct.asSlice(%s$OFFSET, %s$LAYOUT.byteSize()); }" % (n, n, n))
            o(0)
            o(ind, "/** Setter for field (copies {@code fieldValue}): " + doc[4:])
            o(ind, "public static void %s(MemorySegment struct, MemorySegment fieldValue) { MemorySegment.copy(fieldValue, 0L, struct, %s$OFFSET, %s$LAYOUT.byteSize()); }" % (n, n, n))
            o(0)
            o(ind, "private static final long[] %s$DIMS = { %s };" % (n, ", ".join("%dL" % d for d in jt.dims)))
            o(0)
            o(ind, "/** Dimensions for array field: " + doc[4:])
            o(ind, "public static long[] %s$dimensions() { return %s$DIMS.clone(); }" % (n, n))
            el = jt.elem
            nd = len(jt.dims)
            idx_params = ", ".join("long index%d" % i for i in range(nd))
            # byte offset of element [index0][index1]...
            strides = []
            for i in range(nd):
                rest = 1
                for d in jt.dims[i + 1:]:
                    rest *= d
                strides.append(rest)
            checks = " ".join("java.util.Objects.checkIndex(index%d, %dL);" % (i, d) for i, d in enumerate(jt.dims))
            elem_off = " + ".join(("index%d * %d" % (i, st) if st != 1 else "index%d" % i) for i, st in enumerate(strides))
            if el.kind in ("scalar", "pointer"):
                lc = LAYOUT_CLASS[el.layout]
                o(0)
                o(ind, "private static final %s %s$ELEM_LAYOUT = (%s)%s$LAYOUT.select(%s);" % (
                    lc, n, lc, n, ", ".join(["sequenceElement()"] * nd)))
                o(0)
                o(ind, "/** Indexed getter for field: " + doc[4:])
                o(ind, "public static %s %s(MemorySegment struct, %s) {" % (el.java, n, idx_params))
                o(ind + 1, checks)
                o(ind + 1, "return struct.get(%s$ELEM_LAYOUT, %s$OFFSET + (%s) * %s$ELEM_LAYOUT.byteSize());" % (n, n, elem_off, n))
                o(ind, "}")
                o(0)
                o(ind, "/** Indexed setter for field: " + doc[4:])
                o(ind, "public static void %s(MemorySegment struct, %s, %s fieldValue) {" % (n, idx_params, el.java))
                o(ind + 1, checks)
                o(ind + 1, "struct.set(%s$ELEM_LAYOUT, %s$OFFSET + (%s) * %s$ELEM_LAYOUT.byteSize(), fieldValue);" % (n, n, elem_off, n))
                o(ind, "}")
            else:
                o(0)
                o(ind, "private static final GroupLayout %s$ELEM_LAYOUT = (GroupLayout)%s$LAYOUT.select(%s);" % (
                    n, n, ", ".join(["sequenceElement()"] * nd)))
                o(0)
                o(ind, "/** Indexed getter for field (a slice of {@code struct}): " + doc[4:])
                o(ind, "public static MemorySegment %s(MemorySegment struct, %s) {" % (n, idx_params))
                o(ind + 1, checks)
                o(ind + 1, "return struct.asSlice(%s$OFFSET + (%s) * %s$ELEM_LAYOUT.byteSize(), %s$ELEM_LAYOUT.byteSize());" % (n, elem_off, n, n))
                o(ind, "}")
                o(0)
                o(ind, "/** Indexed setter for field (copies {@code fieldValue}): " + doc[4:])
                o(ind, "public static void %s(MemorySegment struct, %s, MemorySegment fieldValue) {" % (n, idx_params))
                o(ind + 1, checks)
                o(ind + 1, "MemorySegment.copy(fieldValue, 0L, struct, %s$OFFSET + (%s) * %s$ELEM_LAYOUT.byteSize(), %s$ELEM_LAYOUT.byteSize());" % (n, elem_off, n, n))
                o(ind, "}")

    def emit_struct(self, s):
        o = Out()
        kind = "union" if s.is_union else "struct"
        o(0, "/** {@snippet lang=c : %s } */" % (s.cname if s.cname.startswith(("struct ", "union ")) else "typedef %s { ... } %s" % (kind, s.cname)))
        o(0, '@SuppressWarnings("restricted")')
        o(0, "public class %s {" % s.name)
        o(0)
        o(1, "%s() {" % s.name)
        o(2, "// Should not be called directly")
        o(1, "}")
        o(0)
        self.emit_struct_body(o, s, 1, s.name)
        o(0, "}")
        self.files[s.name + ".java"] = self.file_start([s.header[0]]) + o.text()

    # ---- callbacks ----
    def emit_callback_class(self, o, cb, ind, nested=False):
        params = ", ".join("%s %s" % (jt.java, n) for n, jt in cb.params)
        rjava = cb.ret.java if cb.ret else "void"
        layouts = ", ".join(jt.layout for _, jt in cb.params)
        if cb.ret:
            desc = "FunctionDescriptor.of(%s%s)" % (cb.ret.layout, (", " + layouts) if layouts else "")
        else:
            desc = "FunctionDescriptor.ofVoid(%s)" % layouts
        o(ind, javadoc_c(cb.csig))
        if not nested:
            o(ind, '@SuppressWarnings("restricted")')
        o(ind, "public %sclass %s {" % ("static " if nested else "", cb.name))
        o(0)
        o(ind + 1, "%s() {" % cb.name)
        o(ind + 2, "// Should not be called directly")
        o(ind + 1, "}")
        o(0)
        o(ind + 1, "/** The function pointer signature, expressed as a functional interface */")
        o(ind + 1, "public interface Function {")
        o(ind + 2, "%s apply(%s);" % (rjava, params))
        o(ind + 1, "}")
        o(0)
        o(ind + 1, "private static final FunctionDescriptor $DESC = %s;" % desc)
        o(0)
        o(ind + 1, "/** The descriptor of this function pointer */")
        o(ind + 1, "public static FunctionDescriptor descriptor() {")
        o(ind + 2, "return $DESC;")
        o(ind + 1, "}")
        o(0)
        o(ind + 1, "private static final MethodHandle UP$MH = upcallHandle(%s.Function.class, \"apply\", $DESC);" % cb.name)
        o(0)
        o(ind + 1, "private static MethodHandle upcallHandle(Class<?> fi, String name, FunctionDescriptor fdesc) {")
        o(ind + 2, "try {")
        o(ind + 3, "return MethodHandles.lookup().findVirtual(fi, name, fdesc.toMethodType());")
        o(ind + 2, "} catch (ReflectiveOperationException ex) {")
        o(ind + 3, "throw new AssertionError(ex);")
        o(ind + 2, "}")
        o(ind + 1, "}")
        o(0)
        o(ind + 1, "/**")
        o(ind + 1, " * Allocates a new upcall stub, whose implementation is defined by {@code fi}.")
        o(ind + 1, " * The lifetime of the returned segment is managed by {@code arena}")
        o(ind + 1, " */")
        o(ind + 1, "public static MemorySegment allocate(%s.Function fi, Arena arena) {" % cb.name)
        o(ind + 2, "return Linker.nativeLinker().upcallStub(UP$MH.bindTo(fi), $DESC, arena);")
        o(ind + 1, "}")
        o(0)
        o(ind + 1, "private static final MethodHandle DOWN$MH = Linker.nativeLinker().downcallHandle($DESC);")
        o(0)
        o(ind + 1, "/** Invoke the upcall stub {@code funcPtr}, with given parameters */")
        struct_ret = cb.ret is not None and cb.ret.kind == "struct"
        allparams = "MemorySegment funcPtr" + (", SegmentAllocator alloc" if struct_ret else "") + (", " + params if params else "")
        o(ind + 1, "public static %s invoke(%s) {" % (rjava, allparams))
        args = ", ".join(["funcPtr"] + (["alloc"] if struct_ret else []) + [n for n, _ in cb.params])
        o(ind + 2, "try {")
        if cb.ret:
            o(ind + 3, "return (%s) DOWN$MH.invokeExact(%s);" % (rjava, args))
        else:
            o(ind + 3, "DOWN$MH.invokeExact(%s);" % args)
        o(ind + 2, "} catch (Error | RuntimeException ex) {")
        o(ind + 3, "throw ex;")
        o(ind + 2, "} catch (Throwable ex$) {")
        o(ind + 3, "throw new AssertionError(\"should not reach here\", ex$);")
        o(ind + 2, "}")
        o(ind + 1, "}")
        o(ind, "}")

    def emit_callback(self, cb):
        o = Out()
        self.emit_callback_class(o, cb, 0)
        self.files[cb.name + ".java"] = self.file_start([cb.header[0]]) + o.text()

    # ---- header classes ----
    def qualify(self, layout, cls_members):
        """Struct layout references must not be shadowed by a nested holder class of the same name."""
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\.layout\(\)$", layout)
        if m and m.group(1) in cls_members:
            return "%s.%s" % (PACKAGE, layout)
        return layout

    def emit_function(self, o, f, members):
        params = [(n, jt) for n, jt in f.params]
        ret = f.ret
        rjava = ret.java if ret else "void"
        layouts = [self.qualify(jt.layout, members) for _, jt in params]
        if ret:
            desc = "FunctionDescriptor.of(%s)" % ", ".join([self.qualify(ret.layout, members)] + layouts)
        else:
            desc = "FunctionDescriptor.ofVoid(%s)" % ", ".join(layouts)
        struct_ret = ret is not None and ret.kind == "struct"
        jparams = ", ".join((["SegmentAllocator allocator"] if struct_ret else []) + ["%s %s" % (jt.java, n) for n, jt in params])
        args = ", ".join((["allocator"] if struct_ret else []) + [n for n, _ in params])
        name = f.name
        if f.variadic:
            o(1, javadoc_c(f.csig))
            o(1, "public static class %s {" % name)
            o(2, "private static final FunctionDescriptor BASE_DESC = %s;" % desc)
            o(2, "private static final MemorySegment ADDR = CTypes.findOrThrow(\"%s\");" % name)
            o(0)
            o(2, "private final MethodHandle handle;")
            o(2, "private final FunctionDescriptor descriptor;")
            o(2, "private final MethodHandle spreader;")
            o(0)
            o(2, "private %s(MethodHandle handle, FunctionDescriptor descriptor, MethodHandle spreader) {" % name)
            o(3, "this.handle = handle;")
            o(3, "this.descriptor = descriptor;")
            o(3, "this.spreader = spreader;")
            o(2, "}")
            o(0)
            o(2, "/**")
            o(2, " * Variadic invoker factory for {@code %s}: {@code layouts} are the layouts of the variadic" % name)
            o(2, " * arguments, already promoted as C does (e.g. {@code C_INT} for char/short, {@code C_DOUBLE} for float)")
            o(2, " */")
            o(2, "public static %s makeInvoker(MemoryLayout... layouts) {" % name)
            o(3, "FunctionDescriptor desc$ = BASE_DESC.appendArgumentLayouts(layouts);")
            o(3, "Linker.Option fva$ = Linker.Option.firstVariadicArg(BASE_DESC.argumentLayouts().size());")
            o(3, "var mh$ = Linker.nativeLinker().downcallHandle(ADDR, desc$, fva$);")
            o(3, "var spreader$ = mh$.asSpreader(Object[].class, layouts.length);")
            o(3, "return new %s(mh$, desc$, spreader$);" % name)
            o(2, "}")
            o(0)
            o(2, "public static MemorySegment address() {")
            o(3, "return ADDR;")
            o(2, "}")
            o(0)
            o(2, "public MethodHandle handle() {")
            o(3, "return handle;")
            o(2, "}")
            o(0)
            o(2, "public FunctionDescriptor descriptor() {")
            o(3, "return descriptor;")
            o(2, "}")
            o(0)
            used = {n for n, _ in params}
            va = "x%d" % len(params)
            while va in used:
                va += "_"
            o(2, "public %s apply(%s) {" % (rjava, ", ".join([p for p in [jparams] if p] + ["Object... " + va])))
            o(3, "try {")
            call = "spreader.invokeExact(%s)" % ", ".join([a for a in [args] if a] + [va])
            if ret:
                o(4, "return (%s) %s;" % (rjava, call))
            else:
                o(4, "%s;" % call)
            o(3, "} catch (Error | RuntimeException ex) {")
            o(4, "throw ex;")
            o(3, "} catch (Throwable ex$) {")
            o(4, "throw new AssertionError(\"should not reach here\", ex$);")
            o(3, "}")
            o(2, "}")
            o(1, "}")
            return
        o(1, "private static class %s {" % name)
        o(2, "public static final FunctionDescriptor DESC = %s;" % desc)
        o(0)
        o(2, "public static final MemorySegment ADDR = CTypes.findOrThrow(\"%s\");" % name)
        o(0)
        o(2, "public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);")
        o(1, "}")
        o(0)
        o(1, "/** Function descriptor for: " + javadoc_c(f.csig)[4:])
        o(1, "public static FunctionDescriptor %s$descriptor() {" % name)
        o(2, "return %s.DESC;" % name)
        o(1, "}")
        o(0)
        o(1, "/** Downcall method handle for: " + javadoc_c(f.csig)[4:])
        o(1, "public static MethodHandle %s$handle() {" % name)
        o(2, "return %s.HANDLE;" % name)
        o(1, "}")
        o(0)
        o(1, "/** Address for: " + javadoc_c(f.csig)[4:])
        o(1, "public static MemorySegment %s$address() {" % name)
        o(2, "return %s.ADDR;" % name)
        o(1, "}")
        o(0)
        o(1, javadoc_c(f.csig))
        o(1, "public static %s %s(%s) {" % (rjava, name, jparams))
        o(2, "var mh$ = %s.HANDLE;" % name)
        o(2, "try {")
        if ret:
            o(3, "return (%s) mh$.invokeExact(%s);" % (rjava, args))
        else:
            o(3, "mh$.invokeExact(%s);" % args)
        o(2, "} catch (Error | RuntimeException ex) {")
        o(3, "throw ex;")
        o(2, "} catch (Throwable ex$) {")
        o(3, "throw new AssertionError(\"should not reach here\", ex$);")
        o(2, "}")
        o(1, "}")

    def emit_constant(self, o, c):
        doc = javadoc_c(c.comment)
        if c.jtype == "String":
            o(1, "private static class %s$constant {" % c.name)
            o(2, "static final MemorySegment SEGMENT = Arena.ofAuto().allocateFrom(%s);" % java_string(c.value))
            o(1, "}")
            o(0)
            o(1, doc)
            o(1, "public static MemorySegment %s() {" % c.name)
            o(2, "return %s$constant.SEGMENT;" % c.name)
            o(1, "}")
            return
        if c.jtype == "int":
            lit = str(c.value) if c.value != -(1 << 31) else "Integer.MIN_VALUE"
        elif c.jtype == "long":
            lit = (str(c.value) + "L") if c.value != -(1 << 63) else "Long.MIN_VALUE"
        elif c.jtype == "float":
            lit = java_float(c.value)
        else:
            lit = java_double(c.value)
        o(1, "private static final %s %s = %s;" % (c.jtype, c.name, lit))
        o(0)
        o(1, doc)
        o(1, "public static %s %s() {" % (c.jtype, c.name))
        o(2, "return %s;" % c.name)
        o(1, "}")

    def emit_header(self, hdr_name, cls):
        g = self.gen
        funcs = [f for f in g.functions if f.header[1] == cls]
        consts = [c for c in g.constants if c.header[1] == cls]
        members = {f.name for f in funcs} | {c.name + "$constant" for c in consts if c.jtype == "String"}
        o = Out()
        o(0, "/** Functions and constants declared in {@code %s}. Calling a function loads lora4j's natives. */" % hdr_name)
        o(0, '@SuppressWarnings("restricted")')
        o(0, "public final class %s {" % cls)
        o(0)
        o(1, "private %s() {" % cls)
        o(2, "// Should not be called directly")
        o(1, "}")
        for c in consts:
            o(0)
            self.emit_constant(o, c)
        for f in funcs:
            o(0)
            self.emit_function(o, f, members)
        o(0, "}")
        self.files[cls + ".java"] = self.file_start([hdr_name]) + o.text()

    def emit_all(self):
        g = self.gen
        self.emit_ctypes()
        for rel, cls in HEADERS:
            self.emit_header(os.path.basename(rel), cls)
        for s in g.struct_order:
            self.emit_struct(s)
        for cb in g.callbacks.values():
            self.emit_callback(cb)

    # ---- symbols.txt ----
    def symbols(self):
        g = self.gen
        rows = set()
        for f in g.functions:
            rows.add("%s function%s %s" % (f.name, " (variadic)" if f.variadic else "", f.header[0]))
        for s in g.struct_order:
            rows.add("%s %s %s" % (s.name, "union" if s.is_union else "struct", s.header[0] if s.header else "?"))
        for cb in g.callbacks.values():
            rows.add("%s callback %s" % (cb.name, cb.header[0]))
        for c in g.constants:
            rows.add("%s constant %s" % (c.name, c.header[0]))
        for name, kind, reason in g.skipped:
            rows.add("%s skipped-%s (%s)" % (name, kind, reason))
        return "# Generated by bindings/generator/generate.py (llama.cpp tree %s). DO NOT EDIT.\n" % self.tree + \
            "# <symbol> <kind> <header>, sorted; skipped-* lines name what is not bound and why\n" + \
            "\n".join(sorted(rows)) + "\n"

    # ---- layout_check.c ----
    def layout_check(self):
        g = self.gen
        lines = [
            "// Generated by bindings/generator/generate.py from %s (llama.cpp tree %s). DO NOT EDIT." % (
                ", ".join(self.all_header_names()), self.tree),
            "// Prints the C compiler's view of every bound struct, for StructLayoutTest:",
            "//   <java class> sizeof <n>",
            "//   <java class> <layout path, '/'-separated> <offset> <size>",
            "#include <stddef.h>",
            "#include <stdio.h>",
        ]
        for rel, _ in HEADERS:
            lines.append('#include "%s"' % (rel[len("@shim/"):] if rel.startswith("@shim/") else os.path.basename(rel)))
        lines.append("")
        lines.append("int main(void) {")

        def walk(s, java_cls, ctype):
            lines.append('    printf("%s sizeof %%zu\\n", sizeof(%s));' % (java_cls, ctype))
            for f, path, _ in self.flat_fields(s):
                cpath = ".".join(p for p in path if not p.startswith("$anon$"))
                lines.append('    printf("%s %s %%zu %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));' % (
                    java_cls, "/".join(path), ctype, cpath, ctype, cpath))
            for n in s.nested:
                walk_nested(n, java_cls + "." + n.name, ctype, n.name)

        def walk_nested(s, java_cls, ctype, prefix):
            lines.append('    printf("%s sizeof %%zu\\n", sizeof(((%s *)0)->%s));' % (java_cls, ctype, prefix))
            for f, path, _ in self.flat_fields(s):
                cpath = ".".join(p for p in path if not p.startswith("$anon$"))
                lines.append('    printf("%s %s %%zu %%zu\\n", offsetof(%s, %s.%s) - offsetof(%s, %s), sizeof(((%s *)0)->%s.%s));' % (
                    java_cls, "/".join(path), ctype, prefix, cpath, ctype, prefix, ctype, prefix, cpath))
            for n in s.nested:
                walk_nested(n, java_cls + "." + n.name, ctype, prefix + "." + n.name)

        for s in sorted(g.struct_order, key=lambda x: x.name):
            walk(s, s.name, s.cname)
        lines.append("    return 0;")
        lines.append("}")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# type tables: the ggml types and llama file types of the pinned sources, as generated regions of Java sources
#
# The Java library reads GGUF files without natives, so it keeps ggml's type facts as Java constants. They are
# read here from the pinned sources, never typed by hand: enum ggml_type (ggml.h) with ggml.c's type_traits table
# (blck_size, type_size, whether to_float and from_float_ref are set) and ggml_quantize_requires_imatrix, and enum
# llama_ftype (llama.h). Each table is the region of a Java source between TYPE_TABLE_BEGIN and TYPE_TABLE_END;
# the rest of the file is hand-written. Written to the java/ module beside --out (for the default --out, the
# project's own java/), so GeneratedTypeTablesUpToDateTest can compare a run into a temporary directory.

TYPE_TABLE_BEGIN = "// <generated by bindings/generator/generate.py: %s; do not edit, run bindings/generate.sh>"
TYPE_TABLE_END = "// </generated>"
TYPE_TABLE_FILES = [
    # (path under java/src/main/java, table name, emitter)
    ("dev/lora4j/gguf/GgmlType.java", "enum ggml_type with ggml.c's type_traits", "ggml_type_rows"),
    ("dev/lora4j/FileType.java", "enum llama_ftype", "llama_ftype_rows"),
]


class TypeTables:
    """Reads the type facts from the pinned llama.cpp sources with libclang."""

    def __init__(self, ci, src):
        self.ci = ci
        self.src = src
        self.ev = Evaluator(ci)
        res = clang_resource_include()
        # ggml-version.h is written by ggml's CMake; ggml.c only needs its two macros to parse
        stub = "/lora4j-generator-stub"
        self.args = (["-x", "c", "-std=c11", "-D_GNU_SOURCE", "-I" + stub, "-I" + os.path.join(src, "include"),
                      "-I" + os.path.join(src, "ggml", "include"), "-I" + os.path.join(src, "ggml", "src")]
                     + (["-isystem", res] if res else []))
        self.unsaved = [(stub + "/ggml-version.h", '#define GGML_VERSION "0"\n#define GGML_COMMIT "0"\n')]
        self.ggml_types = []      # (name without GGML_TYPE_, id), in enum order
        self.type_count = None    # GGML_TYPE_COUNT
        self.traits = {}          # id -> {blck_size, type_size, to_float, from_float_ref}
        self.imatrix = set()      # names ggml_quantize_requires_imatrix is true for
        self.quantize_chunk = set()  # names ggml_quantize_chunk has a case for
        self.ftypes = []          # (name without LLAMA_FTYPE_, value), in enum order

    def parse(self, path, unsaved=()):
        ci = self.ci
        tu = ci.Index.create().parse(path, args=self.args, unsaved_files=list(self.unsaved) + list(unsaved))
        errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
        if errors:
            raise SystemExit("libclang errors in %s:\n%s" % (path, "\n".join(str(d) for d in errors)))
        return tu

    def value(self, cursor):
        r = self.ev.evaluate(cursor)
        if r is None or r[0] != "int":
            raise SystemExit("generate.py: type tables: cannot evaluate %s at %s" % (cursor.spelling, cursor.location))
        return r[1]

    def enum_constants(self, tu, enum_name, prefix):
        K = self.ci.CursorKind
        for c in tu.cursor.get_children():
            if c.kind == K.ENUM_DECL and c.spelling == enum_name and c.is_definition():
                return [(k.spelling[len(prefix):], k.enum_value) for k in c.get_children() if k.kind == K.ENUM_CONSTANT_DECL]
        raise SystemExit("generate.py: type tables: no %s" % enum_name)

    def referenced(self, cursor, prefix):
        """names (without prefix) of the enum constants referenced under cursor."""
        K = self.ci.CursorKind
        return {c.spelling[len(prefix):] for c in cursor.walk_preorder()
                if c.kind == K.DECL_REF_EXPR and c.spelling.startswith(prefix)}

    def run(self):
        ci = self.ci
        K = ci.CursorKind
        ggml_c = os.path.join(self.src, "ggml", "src", "ggml.c")
        tu = self.parse(ggml_c)
        for name, v in self.enum_constants(tu, "ggml_type", "GGML_TYPE_"):
            if name == "COUNT":
                self.type_count = v
            else:
                self.ggml_types.append((name, v))
        for c in tu.cursor.get_children():
            if c.location.file is None or os.path.realpath(c.location.file.name) != os.path.realpath(ggml_c):
                continue
            if c.kind == K.VAR_DECL and c.spelling == "type_traits":
                init = next(x for x in c.get_children() if x.kind == K.INIT_LIST_EXPR)
                for entry in init.get_children():  # [GGML_TYPE_X] = { .field = value, ... }
                    index, fields = list(entry.get_children())
                    t = {"to_float": False, "from_float_ref": False}
                    for f in fields.get_children():
                        member, v = list(f.get_children())
                        if member.spelling in ("blck_size", "type_size"):
                            t[member.spelling] = self.value(v)
                        elif member.spelling in ("to_float", "from_float_ref"):
                            r = self.ev.evaluate(v)
                            t[member.spelling] = r is None or r[1] != 0  # a function, not a null constant
                    self.traits[self.value(index)] = t
            elif c.kind == K.FUNCTION_DECL and c.is_definition() and c.spelling == "ggml_quantize_requires_imatrix":
                self.imatrix = self.referenced(c, "GGML_TYPE_")
            elif c.kind == K.FUNCTION_DECL and c.is_definition() and c.spelling == "ggml_quantize_chunk":
                for s in c.walk_preorder():
                    if s.kind == K.CASE_STMT:
                        self.quantize_chunk |= self.referenced(next(s.get_children()), "GGML_TYPE_")
        # what the merge writes is derived from the traits (as lora4j.cpp's out_type_ok does): F32, or a type with
        # to_float and from_float_ref. That must be exactly the types ggml_quantize_chunk has a case for.
        by_id = dict((v, n) for n, v in self.ggml_types)
        converts = {by_id[i] for i, t in self.traits.items() if i in by_id and t["to_float"] and t["from_float_ref"]} | {"F32"}
        if converts != self.quantize_chunk:
            raise SystemExit("generate.py: type tables: types with to_float and from_float_ref (and F32) %s are not the "
                             "cases of ggml_quantize_chunk %s; lora4j.cpp's out_type_ok and GgmlType.ggmlQuantizes() "
                             "need a new rule" % (sorted(converts), sorted(self.quantize_chunk)))
        llama_tu = self.parse("lora4j_types.c", [("lora4j_types.c", '#include "llama.h"\n')])
        self.ftypes = self.enum_constants(llama_tu, "llama_ftype", "LLAMA_FTYPE_")

    # ---- the regions ----
    def ggml_type_rows(self):
        o = Out()
        o(1, "//   name(id, blck_size, type_size, to_float, from_float_ref, ggml_quantize_requires_imatrix)")
        rows = []
        for name, v in self.ggml_types:
            t = self.traits.get(v)
            if t is None or t["blck_size"] <= 0:
                raise SystemExit("generate.py: type tables: GGML_TYPE_%s has no type_traits entry" % name)
            rows.append("%s(%d, %d, %d, %s, %s, %s)" % (name, v, t["blck_size"], t["type_size"], java_bool(t["to_float"]),
                                                        java_bool(t["from_float_ref"]), java_bool(name in self.imatrix)))
        for i, r in enumerate(rows):
            o(1, r + ("," if i < len(rows) - 1 else ";"))
        o(0)
        o(1, "/** {@code GGML_TYPE_COUNT} of the pinned ggml: every valid id is below it. */")
        o(1, "public static final int ID_LIMIT = %d;" % self.type_count)
        return o.lines

    def llama_ftype_rows(self):
        o = Out()
        names = [n for n, _ in self.ftypes]
        items = ["%s(%d)" % (n, v) for n, v in self.ftypes]
        line = ""
        for i, item in enumerate(items):
            item += ";" if i == len(items) - 1 else ","
            if line and len(line) + 1 + len(item) > 116:
                o(1, line)
                line = ""
            line = item if not line else line + " " + item
        o(1, line)
        o(0)
        o(1, "/** See {@link #mostlyOf(GgmlType)}: the name rule of generate.py's mostly_file_type. */")
        o(1, "private static FileType mostly(GgmlType type) {")
        o(2, "return switch (type) {")
        for tname, _ in self.ggml_types:
            ft = mostly_file_type(tname, names)
            if ft is not None:
                o(3, "case %s -> %s;" % (tname, ft))
        o(3, "default -> null;")
        o(2, "};")
        o(1, "}")
        return o.lines

    def write(self, java_root):
        for rel, what, emitter in TYPE_TABLE_FILES:
            committed = os.path.join(PROJECT_ROOT, "java", "src", "main", "java", rel)
            with open(committed, encoding="utf-8") as f:
                lines = f.read().split("\n")
            begin = TYPE_TABLE_BEGIN % what
            starts = [i for i, l in enumerate(lines) if l.strip() == begin]
            ends = [i for i, l in enumerate(lines) if l.strip() == TYPE_TABLE_END]
            if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
                raise SystemExit("generate.py: %s needs one region from '%s' to '%s'" % (committed, begin, TYPE_TABLE_END))
            text = "\n".join(lines[:starts[0] + 1] + getattr(self, emitter)() + lines[ends[0]:])
            path = os.path.join(java_root, "src", "main", "java", rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)


def java_bool(b):
    return "true" if b else "false"


def mostly_file_type(ggml_name, ftype_names):
    """The llama_ftype of a model mostly of one ggml type, as llama-model-loader guesses it: ALL_F32, MOSTLY_<type>,
    else the K-quant's MOSTLY_<type>_M mix, else the one MOSTLY_<type>_* there is (MXFP4_MOE)."""
    for n in ("ALL_" + ggml_name, "MOSTLY_" + ggml_name, "MOSTLY_" + ggml_name + "_M"):
        if n in ftype_names:
            return n
    rest = [n for n in ftype_names if n.startswith("MOSTLY_" + ggml_name + "_")]
    return rest[0] if len(rest) == 1 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-src", help="llama.cpp source directory")
    ap.add_argument("--shim-include", default=os.path.join(PROJECT_ROOT, "native", "include"),
                    help="directory of lora4j.h (default: native/include)")
    ap.add_argument("--out", default=BINDINGS_DIR, help="output root, shaped like the bindings/ module (default: bindings/)")
    ap.add_argument("--print-source", action="store_true", help="print the llama.cpp source directory found and exit")
    a = ap.parse_args()
    src = find_llama_src(a.llama_src)
    if a.print_source:
        print(src)
        return
    if not os.path.isfile(os.path.join(src, "include", "llama.h")):
        raise SystemExit("generate.py: llama.cpp source not found at %s (pass --llama-src, set LLAMA_CPP_DIR, or build native/ first)" % src)
    tree = tree_hash(src)
    if tree != PINNED_TREE:
        print("generate.py: warning: %s has tree %s, not the pinned %s" % (src, tree, PINNED_TREE), file=sys.stderr)
    ci = load_clang()
    gen = Generator(ci, src, os.path.abspath(a.shim_include))
    gen.run()
    em = Emitter(gen, tree)
    em.emit_all()

    out = os.path.abspath(a.out)
    pkg_dir = os.path.join(out, "src", "main", "java", *PACKAGE.split("."))
    if os.path.isdir(pkg_dir):
        shutil.rmtree(pkg_dir)
    os.makedirs(pkg_dir)
    for name in sorted(em.files):
        with open(os.path.join(pkg_dir, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(em.files[name])
    with open(os.path.join(out, "symbols.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write(em.symbols())
    os.makedirs(os.path.join(out, "generator"), exist_ok=True)
    with open(os.path.join(out, "generator", "layout_check.c"), "w", encoding="utf-8", newline="\n") as f:
        f.write(em.layout_check())
    tables = TypeTables(ci, src)
    tables.run()
    tables.write(os.path.join(os.path.dirname(out), "java"))
    print("generate.py: %d functions, %d structs, %d callbacks, %d constants, %d skipped -> %s" % (
        len(gen.functions), len(gen.struct_order), len(gen.callbacks), len(gen.constants), len(gen.skipped), out))


if __name__ == "__main__":
    main()
