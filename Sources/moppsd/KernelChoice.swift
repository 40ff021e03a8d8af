import ArgumentParser
import MoPPSEngine
import MoPPSPlatform
import MoPPSServer

/// Which kernel variant a command runs: `--cpu` if given, else the `MOPPS_CPU` environment
/// variable, else the fastest variant this CPU supports. A variant the CPU lacks is refused with a
/// message naming what it lacks, before any kernel code runs.
enum KernelChoice {
  static let environmentVariable = "MOPPS_CPU"

  static func resolve(flag: String?) throws -> Kernel {
    let requested: (String, String)?
    if let flag {
      requested = ("--cpu", flag)
    } else if let raw = getenv(environmentVariable), !String(cString: raw).isEmpty {
      requested = (environmentVariable, String(cString: raw))
    } else {
      requested = nil
    }
    guard let (source, name) = requested else { return .best }
    do throws(MoPPSError) {
      return try Kernel.named(name)
    } catch {
      throw ValidationError("\(source): \(error.message)")
    }
  }

  /// For `moppsd --version`: the version, then the kernel this process would run and what the CPU runs.
  static var versionLine: String {
    let runs = Kernel.supported.map(\.name).joined(separator: ", ")
    let kernel =
      (try? resolve(flag: nil).name) ?? "none (\(environmentVariable) names a variant this CPU lacks)"
    return "\(moppsVersion) (kernel \(kernel); \(Kernel.cpuName) runs \(runs))"
  }

  static let help = ArgumentHelp(
    "The SIMD kernel variant: baseline, avx2 or avx512 (default: \(environmentVariable), else the fastest this CPU runs).",
    valueName: "variant")
}
