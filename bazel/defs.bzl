"""Project-wide build macros."""

def tributary_cc_test(name, deps = [], data = [], **kwargs):
    """cc_test with GoogleTest's main and the TSan suppressions file.

    .bazelrc's tsan config names the suppressions by a runfiles-relative path
    (Bazel 4.2 does not expand %workspace% in option values), so every test
    carries the file as data.
    """
    native.cc_test(
        name = name,
        deps = deps + ["//third_party:gtest_main"],
        data = data + ["//bazel:tsan.supp"],
        **kwargs
    )

def proto_cc_library(name, srcs, proto_deps = [], deps = [], grpc = False, **kwargs):
    """C++ (and optionally gRPC) code for a group of .proto files in this package.

    Runs Debian's protoc with the package directory as the import root, so a file
    proto/tributary/v1/records.proto is imported as "tributary/v1/records.proto"
    and its header is included as "tributary/v1/records.pb.h".

    Args:
      srcs: the .proto files this library generates code for.
      proto_deps: .proto files of other groups that srcs import.
      deps: the cc libraries generated for proto_deps.
      grpc: also run grpc_cpp_plugin (for files that declare services).
    """
    exts = [".pb.h", ".pb.cc"]
    if grpc:
        exts += [".grpc.pb.h", ".grpc.pb.cc"]
    outs = [s[:-len(".proto")] + e for s in srcs for e in exts]
    pkg = native.package_name()
    cmd = [
        "$(execpath @com_google_protobuf//:bin/protoc)",
        "--proto_path=" + pkg,
        "--cpp_out=$(RULEDIR)",
    ]
    tools = ["@com_google_protobuf//:bin/protoc"]
    if grpc:
        cmd += [
            "--grpc_out=$(RULEDIR)",
            "--plugin=protoc-gen-grpc=$(execpath @com_google_protobuf//:bin/grpc_cpp_plugin)",
        ]
        tools.append("@com_google_protobuf//:bin/grpc_cpp_plugin")
    cmd += ["$(location %s)" % s for s in srcs]
    native.genrule(
        name = name + "_codegen",
        srcs = srcs + proto_deps,
        outs = outs,
        tools = tools,
        cmd = " ".join(cmd),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + ["//third_party:protobuf"] + (["//third_party:grpc++"] if grpc else []),
        **kwargs
    )

def tributary_e2e_test(name, data = [], size = "medium"):
    """An end-to-end script NAME.sh run against the real tributaryd.

    It gets tests/e2e/lib.sh and the collector binary besides `data`, and is
    left out of TSan runs (Debian's RocksDB and gRPC are not instrumented).
    """
    native.sh_test(
        name = name,
        size = size,
        srcs = [name + ".sh"],
        data = ["//tests/e2e:lib.sh", "//collector:tributaryd"] + data,
        tags = ["no_tsan"],
    )
