import Builtin

// 16-lane vectors over LLVM's own vector types, for the Beta sampler.
//
// Swift's `SIMD16<Float>` operations are written as per-lane loops that only LLVM's SLP vectoriser
// turns back into vector code, and it does so unreliably (half a log polynomial left scalar, masks
// blended through shuffles), so the speed would hang on the optimiser's heuristics and the target
// flags (docs/performance.md). These wrappers call the vector builtins directly (`fadd`, `fcmp`, `llvm.sqrt`, `llvm.fmuladd`, …), so
// every operation is one vector instruction (two on AVX2, four on SSE2) whatever the optimiser's
// heuristics do. Needs the `BuiltinModule` experimental feature (Package.swift) for this target only.

/// 16 Float lanes.
struct FloatLanes: ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
  var v: Builtin.Vec16xFPIEEE32

  @inline(__always) init(_ v: Builtin.Vec16xFPIEEE32) { self.v = v }
  @inline(__always) init(_ s: SIMD16<Float>) { v = unsafeBitCast(s, to: Builtin.Vec16xFPIEEE32.self) }
  @inline(__always) init(_ x: Float) { self.init(SIMD16<Float>(repeating: x)) }
  @inline(__always) init(floatLiteral x: Float) { self.init(x) }
  @inline(__always) init(integerLiteral x: Int32) { self.init(Float(x)) }

  @inline(__always) var simd: SIMD16<Float> { unsafeBitCast(v, to: SIMD16<Float>.self) }
  @inline(__always) var bits: IntLanes { IntLanes(Builtin.bitcast_Vec16xFPIEEE32_Vec16xInt32(v)) }

  @inline(__always) static func + (a: Self, b: Self) -> Self { Self(Builtin.fadd_Vec16xFPIEEE32(a.v, b.v)) }
  @inline(__always) static func - (a: Self, b: Self) -> Self { Self(Builtin.fsub_Vec16xFPIEEE32(a.v, b.v)) }
  @inline(__always) static func * (a: Self, b: Self) -> Self { Self(Builtin.fmul_Vec16xFPIEEE32(a.v, b.v)) }
  @inline(__always) static func / (a: Self, b: Self) -> Self { Self(Builtin.fdiv_Vec16xFPIEEE32(a.v, b.v)) }

  /// a·b + c: fused where the target has FMA (`llvm.fmuladd`), a multiply and an add elsewhere, so a
  /// portable build never falls back to a libm call per lane.
  @inline(__always) static func mulAdd(_ a: Self, _ b: Self, _ c: Self) -> Self {
    Self(Builtin.int_fmuladd_Vec16xFPIEEE32(a.v, b.v, c.v))
  }

  @inline(__always) func squareRoot() -> Self { Self(Builtin.int_sqrt_Vec16xFPIEEE32(v)) }

  @inline(__always) static func < (a: Self, b: Self) -> LaneMask {
    LaneMask(Builtin.fcmp_olt_Vec16xFPIEEE32(a.v, b.v))
  }
  @inline(__always) static func > (a: Self, b: Self) -> LaneMask {
    LaneMask(Builtin.fcmp_ogt_Vec16xFPIEEE32(a.v, b.v))
  }

  /// `b` in the lanes where `m` holds, `self` elsewhere (a blend).
  @inline(__always) func replacing(with b: Self, where m: LaneMask) -> Self {
    let w = m.wide
    return ((w & b.bits) | (~w & bits)).asFloat
  }
}

/// 16 Int32 lanes, also used as raw bit patterns (shifts say whether they are logical or arithmetic).
struct IntLanes {
  var v: Builtin.Vec16xInt32

  @inline(__always) init(_ v: Builtin.Vec16xInt32) { self.v = v }
  @inline(__always) init(_ s: SIMD16<UInt32>) { v = unsafeBitCast(s, to: Builtin.Vec16xInt32.self) }
  @inline(__always) init(_ x: Int32) { self.init(SIMD16<UInt32>(repeating: UInt32(bitPattern: x))) }

  @inline(__always) var simd: SIMD16<UInt32> { unsafeBitCast(v, to: SIMD16<UInt32>.self) }
  @inline(__always) var asFloat: FloatLanes { FloatLanes(Builtin.bitcast_Vec16xInt32_Vec16xFPIEEE32(v)) }

  @inline(__always) static func &+ (a: Self, b: Self) -> Self { Self(Builtin.add_Vec16xInt32(a.v, b.v)) }
  @inline(__always) static func &- (a: Self, b: Self) -> Self { Self(Builtin.sub_Vec16xInt32(a.v, b.v)) }
  @inline(__always) static func & (a: Self, b: Self) -> Self { Self(Builtin.and_Vec16xInt32(a.v, b.v)) }
  @inline(__always) static func | (a: Self, b: Self) -> Self { Self(Builtin.or_Vec16xInt32(a.v, b.v)) }
  @inline(__always) static func ^ (a: Self, b: Self) -> Self { Self(Builtin.xor_Vec16xInt32(a.v, b.v)) }
  @inline(__always) static prefix func ~ (a: Self) -> Self { a ^ Self(-1) }

  @inline(__always) func shiftedLeft(_ n: Int32) -> Self { Self(Builtin.shl_Vec16xInt32(v, Self(n).v)) }
  @inline(__always) func shiftedRightLogical(_ n: Int32) -> Self {
    Self(Builtin.lshr_Vec16xInt32(v, Self(n).v))
  }
  @inline(__always) func shiftedRightArithmetic(_ n: Int32) -> Self {
    Self(Builtin.ashr_Vec16xInt32(v, Self(n).v))
  }
  @inline(__always) func rotatedLeft(_ n: Int32) -> Self { shiftedLeft(n) | shiftedRightLogical(32 - n) }
}

/// 16 lane predicates.
struct LaneMask {
  var v: Builtin.Vec16xInt1

  @inline(__always) init(_ v: Builtin.Vec16xInt1) { self.v = v }
  @inline(__always) static var none: Self { FloatLanes(0) < FloatLanes(0) }
  @inline(__always) static var every: Self { FloatLanes(0) < FloatLanes(1) }

  /// All ones in the lanes that hold, zero elsewhere.
  @inline(__always) var wide: IntLanes { IntLanes(Builtin.sext_Vec16xInt1_Vec16xInt32(v)) }
  @inline(__always) var bits: UInt16 { UInt16(Builtin.bitcast_Vec16xInt1_Int16(v)) }
  @inline(__always) var any: Bool { bits != 0 }
  @inline(__always) var all: Bool { bits == 0xFFFF }

  @inline(__always) static func & (a: Self, b: Self) -> Self { Self(Builtin.and_Vec16xInt1(a.v, b.v)) }
  @inline(__always) static func | (a: Self, b: Self) -> Self { Self(Builtin.or_Vec16xInt1(a.v, b.v)) }
  @inline(__always) static prefix func ! (a: Self) -> Self { Self(Builtin.xor_Vec16xInt1(a.v, every.v)) }
}

/// 16 UInt64 words, each an (α, β) pair packed as the prompt table stores it (α in the high half).
@inline(__always)
func unpackPairs(_ words: UnsafeRawPointer) -> (alpha: FloatLanes, beta: FloatLanes) {
  let v = words.loadUnaligned(as: SIMD16<UInt64>.self)
  let w = unsafeBitCast(v, to: Builtin.Vec16xInt64.self)
  let high = Builtin.lshr_Vec16xInt64(
    w, unsafeBitCast(SIMD16<UInt64>(repeating: 32), to: Builtin.Vec16xInt64.self))
  return (
    IntLanes(Builtin.trunc_Vec16xInt64_Vec16xInt32(high)).asFloat,
    IntLanes(Builtin.trunc_Vec16xInt64_Vec16xInt32(w)).asFloat
  )
}
