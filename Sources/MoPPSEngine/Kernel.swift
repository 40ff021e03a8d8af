import CPUFeatures
import MoPPSKernelABI
import MoPPSKernels
import Synchronization

#if arch(x86_64)
  import MoPPSKernelsAVX2
  import MoPPSKernelsAVX512
#endif

/// One compiled variant of the vectorised kernels (Beta sampling, nearest-key selection, the
/// whole-pool segment filters), chosen at run time from what the CPU supports.
///
/// The kernel sources are compiled once per instruction set (`Package.swift`): `baseline` (x86-64
/// with SSE2, or the portable build on other architectures), `avx2` (x86-64-v3: AVX2 + FMA) and
/// `avx512` (x86-64-v4: AVX-512 F/BW/CD/DQ/VL). Every variant samples the same distributions; they
/// differ in the last bits of their arithmetic (FMA or not), so a pool's draws are deterministic for
/// a given seed *and* variant. Code of a variant runs only through this table, and a variant the CPU
/// lacks cannot be built (`named(_:)` refuses it), so no illegal instruction is reachable.
public struct Kernel: Sendable, Hashable, CustomStringConvertible {
  /// The instruction sets the kernels are compiled for, slowest first (their raw values are the
  /// names `--cpu` and `Kernel.named(_:)` take).
  public enum Variant: String, CaseIterable, Sendable, Comparable {
    /// x86-64 with SSE2, or the portable build on other architectures.
    case baseline
    /// x86-64-v3: AVX2 and FMA.
    case avx2
    /// x86-64-v4: AVX-512 F/BW/CD/DQ/VL.
    case avx512

    /// Orders variants by declaration: baseline < avx2 < avx512.
    public static func < (a: Self, b: Self) -> Bool {
      allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
  }

  /// Which compiled variant this is.
  public let variant: Variant
  /// The variant's name: `baseline`, `avx2` or `avx512`.
  public var name: String { variant.rawValue }
  /// The variant's name.
  public var description: String { name }

  /// The variant's functions.
  let entry: EntryPoints

  /// Kernels are equal when they are the same variant.
  public static func == (a: Self, b: Self) -> Bool { a.variant == b.variant }
  /// Hashes the variant.
  public func hash(into h: inout Hasher) { h.combine(variant) }

  /// The portable variant: runs on every CPU of the architecture.
  public static let baseline = Kernel(variant: .baseline, entry: MoPPSKernels.entryPoints)

  /// The variants this CPU runs, slowest first (`baseline` always).
  public static let supported: [Kernel] = {
    var kernels = [baseline]
    #if arch(x86_64)
      // A variant's table is read only once CPUID says the CPU runs its code.
      if mopps_cpu_supports_x86_64_v3() != 0 {
        kernels.append(Kernel(variant: .avx2, entry: MoPPSKernelsAVX2.entryPoints))
      }
      if mopps_cpu_supports_x86_64_v4() != 0 {
        kernels.append(Kernel(variant: .avx512, entry: MoPPSKernelsAVX512.entryPoints))
      }
    #endif
    return kernels
  }()

  /// The fastest variant this CPU runs: what the engine uses unless told otherwise.
  public static var best: Kernel { supported.last! }

  /// The variant called `name` (`baseline`, `avx2`, `avx512`), if this CPU runs it; otherwise
  /// INVALID_ARGUMENT naming what the CPU lacks and what it does run.
  public static func named(_ name: String) throws(MoPPSError) -> Kernel {
    let runs = supported.map(\.name).joined(separator: ", ")
    guard let variant = Variant(rawValue: name) else {
      throw .invalid(
        "unknown CPU kernel \"\(name)\": use one of \(Variant.allCases.map(\.rawValue).joined(separator: ", ")) "
          + "(this CPU runs \(runs))")
    }
    guard let kernel = supported.first(where: { $0.variant == variant }) else {
      throw .invalid(
        "CPU kernel \"\(name)\" needs \(variant.requirement), which this CPU (\(cpuName)) lacks; it runs \(runs)"
      )
    }
    return kernel
  }

  /// The CPU's brand string as CPUID reports it ("unknown CPU" where it does not).
  public static let cpuName: String = {
    let brand = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 49) { buffer -> String in
      mopps_cpu_brand(buffer.baseAddress!)
      return String(cString: buffer.baseAddress!)
    }
    let trimmed = brand.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    return trimmed.isEmpty ? "unknown CPU" : trimmed
  }()
}

extension Kernel.Variant {
  /// The instruction-set extensions the variant's code uses.
  var requirement: String {
    switch self {
    case .baseline: return "nothing beyond the architecture's base"
    case .avx2: return "x86-64-v3 (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE)"
    case .avx512: return "x86-64-v4 (AVX-512 F, BW, CD, DQ, VL)"
    }
  }
}

extension Kernel {
  /// Fills `out` with Beta(alpha[i], beta[i]) samples.
  func sample(
    _ out: UnsafeMutableBufferPointer<Float>, alpha: UnsafeBufferPointer<Float>,
    beta: UnsafeBufferPointer<Float>,
    using rng: inout VectorRNG
  ) {
    precondition(alpha.count == out.count && beta.count == out.count)
    guard !out.isEmpty else { return }
    rng.withState {
      entry.sampleSplit(out.baseAddress!, out.count, alpha.baseAddress!, beta.baseAddress!, $0)
    }
  }

  /// The same from packed posterior words.
  func sample(
    _ out: UnsafeMutableBufferPointer<Float>, words: UnsafeBufferPointer<Atomic<UInt64>>,
    using rng: inout VectorRNG
  ) {
    precondition(words.count == out.count)
    guard !out.isEmpty else { return }
    rng.withState { entry.samplePacked(out.baseAddress!, out.count, words.baseAddress!, $0) }
  }

  /// The same from packed posterior words in plain memory.
  func sample(
    _ out: UnsafeMutableBufferPointer<Float>, words: UnsafeBufferPointer<UInt64>, using rng: inout VectorRNG
  ) {
    precondition(words.count == out.count)
    guard !out.isEmpty else { return }
    rng.withState { entry.sampleWords(out.baseAddress!, out.count, words.baseAddress!, $0) }
  }

  /// Positions of the k smallest keys (≥ 0, not NaN), ordered by (key, position).
  func smallest(_ k: Int, of keys: [Float]) -> [Int] {
    keys.withUnsafeBufferPointer { entry.smallest(k, $0) }
  }

  /// Positions of the k samples nearest `target`, ordered by (distance, position).
  func nearest(_ k: Int, to target: Float, samples: [Float]) -> [Int] {
    samples.withUnsafeBufferPointer { entry.nearest(k, target, $0) }
  }

  /// The vector log, exp, cos 2πu and sin 2πu of this variant over arrays (a multiple of 16 long), for
  /// the tests of its arithmetic; internal, so the precondition guards only the tests' own calls.
  func elementary(_ x: [Float], _ y: [Float], _ u: [Float]) -> (
    log: [Float], exp: [Float], cos: [Float], sin: [Float]
  ) {
    precondition(x.count == y.count && y.count == u.count && x.count % 16 == 0)
    var (l, e, c, s) = (x, x, x, x)
    l.withUnsafeMutableBufferPointer { l in
      e.withUnsafeMutableBufferPointer { e in
        c.withUnsafeMutableBufferPointer { c in
          s.withUnsafeMutableBufferPointer { s in
            entry.elementary(x.count, x, y, u, l.baseAddress!, e.baseAddress!, c.baseAddress!, s.baseAddress!)
          }
        }
      }
    }
    return (l, e, c, s)
  }
}
