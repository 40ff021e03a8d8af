// swift-tools-version: 6.1
import PackageDescription

// Release builds get CPU flags from the Makefile (CPU=haswell by default); the package itself
// carries none, so a plain `swift build` is portable and correct, only slower.
let package = Package(
  name: "moppsd",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "moppsd", targets: ["moppsd"]),
    .library(name: "MoPPSEngine", targets: ["MoPPSEngine"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
    // The Beta sampler calls LLVM vector builtins directly (Sources/MoPPSEngine/Lanes.swift).
    .target(name: "MoPPSEngine", swiftSettings: [.enableExperimentalFeature("BuiltinModule")]),
    // The C library, imported in one place for every module outside the engine.
    .target(name: "MoPPSPlatform"),
    .target(name: "MoPPSProtocol", dependencies: ["MoPPSProtoC", "MoPPSEngine", "MoPPSPlatform"]),
    .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
    // The state directory: write-ahead log, snapshots, tags, recovery, the reference JSON formats.
    .target(
      name: "MoPPSPersistence",
      dependencies: ["MoPPSEngine", "MoPPSPlatform", .product(name: "Logging", package: "swift-log")]),
    .target(
      name: "MoPPSServer",
      dependencies: [
        "MoPPSEngine", "MoPPSPersistence", "MoPPSPlatform", "MoPPSProtocol", "ZeroMQ",
        .product(name: "Logging", package: "swift-log"),
      ]),
    // In-process benchmarks behind `moppsd bench`.
    .target(name: "MoPPSBench", dependencies: ["MoPPSEngine", "MoPPSPersistence", "MoPPSPlatform"]),
    .executableTarget(
      name: "moppsd",
      dependencies: [
        "MoPPSServer", "MoPPSBench", "MoPPSPersistence", "MoPPSPlatform", "MoPPSProtocol", "ZeroMQ",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    // What the test targets share: the independent protobuf writer, request frames, status helpers.
    .target(
      name: "MoPPSTestSupport", dependencies: ["MoPPSProtocol", "MoPPSEngine"], path: "Tests/MoPPSTestSupport"
    ),
    .testTarget(name: "MoPPSEngineTests", dependencies: ["MoPPSEngine"]),
    .testTarget(
      name: "MoPPSProtocolTests", dependencies: ["MoPPSProtocol", "MoPPSEngine", "MoPPSTestSupport"]),
    .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
    .testTarget(
      name: "MoPPSServerTests",
      dependencies: [
        "MoPPSServer", "MoPPSPersistence", "MoPPSProtocol", "MoPPSEngine", "MoPPSTestSupport", "ZeroMQ",
      ]),
  ],
  swiftLanguageModes: [.v6]
)
