/// xoshiro128+ in 16 lanes: the Beta sampler's generator.
///
/// The state lives in the caller's memory between calls (the engine's `VectorRNG`, 64 words): kernels
/// are compiled once per instruction set, each with its own copy of these types, so only plain words
/// can cross from the engine into whichever variant runs.
struct LaneRNG {
  var s0: IntLanes, s1: IntLanes, s2: IntLanes, s3: IntLanes

  /// Words 0..<16 are s0's lanes, 16..<32 s1's, and so on.
  @inline(__always)
  init(loading state: UnsafeRawPointer) {
    s0 = IntLanes(state.loadUnaligned(as: SIMD16<UInt32>.self))
    s1 = IntLanes(state.loadUnaligned(fromByteOffset: 64, as: SIMD16<UInt32>.self))
    s2 = IntLanes(state.loadUnaligned(fromByteOffset: 128, as: SIMD16<UInt32>.self))
    s3 = IntLanes(state.loadUnaligned(fromByteOffset: 192, as: SIMD16<UInt32>.self))
  }

  @inline(__always)
  func store(to state: UnsafeMutableRawPointer) {
    state.storeBytes(of: s0.simd, as: SIMD16<UInt32>.self)
    state.storeBytes(of: s1.simd, toByteOffset: 64, as: SIMD16<UInt32>.self)
    state.storeBytes(of: s2.simd, toByteOffset: 128, as: SIMD16<UInt32>.self)
    state.storeBytes(of: s3.simd, toByteOffset: 192, as: SIMD16<UInt32>.self)
  }

  @inline(__always)
  mutating func next() -> IntLanes {
    let result = s0 &+ s3
    let t = s1.shiftedLeft(9)
    s2 = s2 ^ s0
    s3 = s3 ^ s1
    s1 = s1 ^ s2
    s0 = s0 ^ s3
    s2 = s2 ^ t
    s3 = s3.rotatedLeft(11)
    return result
  }

  /// Uniform in the open interval (0, 1): the top 23 bits as the mantissa of a float in [1, 2),
  /// minus 1, shifted by half a cell: three vector instructions, no integer conversion.
  @inline(__always)
  mutating func nextOpenUnit() -> FloatLanes {
    (next().shiftedRightLogical(9) | IntLanes(0x3F80_0000)).asFloat - FloatLanes(1 - 0x1p-24)
  }
}
