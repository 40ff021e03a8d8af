// swift-tools-version: 6.1
import PackageDescription

// The vectorised kernels (Sources/MoPPSKernels) are compiled once per x86-64 instruction set, each
// into its own module, and the engine picks one at run time from CPUID (Sources/MoPPSEngine/Kernel.swift):
// a plain `swift build -c release` runs at full speed on any x86-64 CPU. Other architectures build
// the portable module only.
#if arch(x86_64)
  let isX86 = true
#else
  let isX86 = false
#endif

/// Flags of every kernel module: -fno-math-errno lets libm-free loops vectorise, and the SLP
/// look-ahead keeps LLVM from leaving half of a polynomial scalar. Kernels are optimised in debug
/// builds too: unoptimised, the vector wrappers are calls, and the tests (which check every variant's
/// accuracy on millions of samples) would take minutes.
let kernelFlags = ["-O", "-Xcc", "-fno-math-errno", "-Xllvm", "-slp-max-look-ahead-depth=6"]

/// A kernel module compiled for one instruction set; its sources are Sources/MoPPSKernels (a
/// symlinked folder), so the variants cannot drift apart.
func kernelVariant(_ name: String, cpu: String) -> Target {
  .target(
    name: name, dependencies: ["MoPPSKernelABI"], path: "Sources/\(name)",
    swiftSettings: [
      .enableExperimentalFeature("BuiltinModule"), .unsafeFlags(["-target-cpu", cpu] + kernelFlags),
    ])
}

let kernelModules: [Target.Dependency] =
  isX86 ? ["MoPPSKernels", "MoPPSKernelsAVX2", "MoPPSKernelsAVX512"] : ["MoPPSKernels"]
let package = Package(
  name: "moppsd",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "moppsd", targets: ["moppsd"]),
    .library(name: "MoPPSEngine", targets: ["MoPPSEngine"]),
    .library(name: "MoPPSClient", targets: ["MoPPSClient"]),
    .executable(name: "mopps-conformance", targets: ["mopps-conformance"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    // `serve --http`: NIOHTTP1's parser and NIOPosix's event loop, linked into MoPPSHTTP only.
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    // `swift package generate-documentation --target MoPPSEngine` (`make docs`). A command plugin:
    // builds compile its script once and cache it; nothing of it is linked into the targets.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // libzmq: linked in the modulemap; no pkgConfig (its flags are refused by SwiftPM).
    .systemLibrary(
      name: "CZeroMQ", path: "CModules/CZeroMQ",
      providers: [.apt(["libzmq3-dev"])]),
    .systemLibrary(
      name: "CProtobufC", path: "CModules/CProtobufC",
      providers: [.apt(["libprotobuf-c-dev"])]),
    // protoc-c output for proto/ (committed; `make proto` regenerates it).
    .target(
      name: "MoPPSProtoC", dependencies: ["CProtobufC"], path: "CModules/MoPPSProtoC",
      publicHeadersPath: "include",
      cSettings: [.define("NDEBUG", .when(configuration: .release))],
      // The generated C includes the header directly, so the system module's `link` does not apply.
      linkerSettings: [.linkedLibrary("protobuf-c")]),
    // CPUID and XGETBV, which Swift cannot issue itself, and the CRC32 instruction for the log.
    .target(name: "CPUFeatures", path: "CModules/CPUFeatures"),
    // The type of the kernels' entry-point table, shared by every variant (no code of its own).
    .target(name: "MoPPSKernelABI"),
    // The kernels call LLVM vector builtins directly (Sources/MoPPSKernels/Lanes.swift).
    .target(
      name: "MoPPSKernels", dependencies: ["MoPPSKernelABI"],
      swiftSettings: [.enableExperimentalFeature("BuiltinModule"), .unsafeFlags(kernelFlags)]),
    .target(name: "MoPPSEngine", dependencies: kernelModules + ["MoPPSKernelABI", "CPUFeatures"]),
    // The C library, imported in one place for every module outside the engine.
    .target(name: "MoPPSPlatform"),
    .target(name: "MoPPSProtocol", dependencies: ["MoPPSProtoC", "MoPPSEngine", "MoPPSPlatform"]),
    .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
    // The state directory: write-ahead log, snapshots, tags, recovery, the reference JSON formats.
    .target(
      name: "MoPPSPersistence",
      dependencies: [
        "MoPPSEngine", "MoPPSPlatform", "CPUFeatures", .product(name: "Logging", package: "swift-log"),
      ]),
    .target(
      name: "MoPPSServer",
      dependencies: [
        "MoPPSEngine", "MoPPSPersistence", "MoPPSPlatform", "MoPPSProtocol", "ZeroMQ",
        .product(name: "Logging", package: "swift-log"),
      ]),
    // `serve --http`: /metrics, /healthz, /readyz and the dashboard, on an event loop of its own.
    .target(
      name: "MoPPSHTTP",
      dependencies: [
        "MoPPSServer", "MoPPSEngine", "MoPPSPersistence", "MoPPSPlatform",
        .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
      ]),
    // The Swift client of the wire protocol (the CLI's server calls use it).
    .target(name: "MoPPSClient", dependencies: ["MoPPSProtocol", "MoPPSEngine", "MoPPSPlatform", "ZeroMQ"]),
    .executableTarget(
      name: "mopps-conformance", dependencies: ["MoPPSClient", "MoPPSEngine", "MoPPSPlatform"]),
    // In-process benchmarks behind `moppsd bench`.
    .target(name: "MoPPSBench", dependencies: ["MoPPSEngine", "MoPPSPersistence", "MoPPSPlatform"]),
    .executableTarget(
      name: "moppsd",
      dependencies: [
        "MoPPSServer", "MoPPSHTTP", "MoPPSBench", "MoPPSPersistence", "MoPPSPlatform", "MoPPSProtocol",
        "MoPPSClient",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    // What the test targets share: the independent protobuf writer, request frames, status helpers.
    .target(
      name: "MoPPSTestSupport", dependencies: ["MoPPSProtocol", "MoPPSEngine"], path: "Tests/MoPPSTestSupport"
    ),
    .testTarget(name: "MoPPSEngineTests", dependencies: ["MoPPSEngine", "MoPPSKernels"]),
    .testTarget(
      name: "MoPPSProtocolTests", dependencies: ["MoPPSProtocol", "MoPPSEngine", "MoPPSTestSupport"]),
    .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
    .testTarget(
      name: "MoPPSClientTests", dependencies: ["MoPPSClient", "MoPPSProtocol", "MoPPSEngine", "ZeroMQ"]),
    .testTarget(
      name: "MoPPSHTTPTests",
      dependencies: [
        "MoPPSHTTP", "MoPPSServer", "MoPPSEngine", "MoPPSPersistence", "MoPPSProtocol", "MoPPSTestSupport",
      ]),
    .testTarget(
      name: "MoPPSServerTests",
      dependencies: [
        "MoPPSServer", "MoPPSPersistence", "MoPPSProtocol", "MoPPSEngine", "MoPPSTestSupport", "ZeroMQ",
      ]),
  ],
  swiftLanguageModes: [.v6]
)

if isX86 {
  package.targets += [
    kernelVariant("MoPPSKernelsAVX2", cpu: "haswell"),
    kernelVariant("MoPPSKernelsAVX512", cpu: "skylake-avx512"),
  ]
}

// `make test-tsan` sets MOPPS_WITHOUT_HTTP: the ThreadSanitizer build then leaves out `serve --http`
// (MoPPSHTTP, its tests, the moppsd executable) and so does not compile swift-nio, which none of
// the sanitized tests use and which took most of that build's time.
if Context.environment["MOPPS_WITHOUT_HTTP"] != nil {
  let http: Set<String> = ["MoPPSHTTP", "MoPPSHTTPTests", "moppsd"]
  package.targets.removeAll { http.contains($0.name) }
  package.products.removeAll { $0.name == "moppsd" }
  package.dependencies.removeAll {
    if case .sourceControl(_, let location, _) = $0.kind { return location.hasSuffix("/swift-nio") }
    return false
  }
}
