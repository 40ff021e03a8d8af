#if _endian(big)
  #error("the state files are little-endian and read with plain loads; add byte swapping first")
#endif

/// Little-endian binary encoding of the WAL and snapshot payloads.
/// Versions of the log and snapshot formats. 2 added strict ids to pool configs, content
/// fingerprints of remembered Update ids, remembered Select replies and the Select record.
enum StateFormat {
  /// 3: strategy settings and state (dps, greso, pools), Update steps, the ids a dps Select saw.
  static let current: UInt32 = 3
  static let readable: ClosedRange<UInt32> = 1...3
}

struct BinaryWriter {
  var bytes: [UInt8] = []

  mutating func u8(_ v: UInt8) { bytes.append(v) }
  mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
  mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
  mutating func f64(_ v: Double) { u64(v.bitPattern) }

  mutating func string(_ s: String) {
    let utf8 = Array(s.utf8)
    u32(UInt32(utf8.count))
    bytes += utf8
  }

  /// A count, then the elements' raw little-endian bytes.
  mutating func array<T: BitwiseCopyable>(_ values: [T]) {
    u64(UInt64(values.count))
    values.withUnsafeBytes { bytes += $0 }
  }
}

struct BinaryReader {
  let bytes: [UInt8]
  var offset = 0
  /// Format version of the file being read (log and snapshot files share one numbering): what a
  /// newer version added is read only from files that have it.
  let version: UInt32

  init(_ bytes: [UInt8], version: UInt32 = StateFormat.current) {
    self.bytes = bytes
    self.version = version
  }

  var atEnd: Bool { offset == bytes.count }

  private mutating func take(_ n: Int) throws(PersistenceError) -> Range<Int> {
    guard n >= 0, n <= bytes.count - offset else {
      throw PersistenceError("truncated data: need \(n) bytes at offset \(offset) of \(bytes.count)")
    }
    defer { offset += n }
    return offset..<(offset + n)
  }

  mutating func u8() throws(PersistenceError) -> UInt8 { bytes[try take(1).lowerBound] }

  mutating func u32() throws(PersistenceError) -> UInt32 {
    let r = try take(4)
    return bytes.withUnsafeBytes {
      UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: r.lowerBound, as: UInt32.self))
    }
  }

  mutating func u64() throws(PersistenceError) -> UInt64 {
    let r = try take(8)
    return bytes.withUnsafeBytes {
      UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: r.lowerBound, as: UInt64.self))
    }
  }

  mutating func f64() throws(PersistenceError) -> Double { Double(bitPattern: try u64()) }

  mutating func string() throws(PersistenceError) -> String {
    let n = Int(try u32())
    let r = try take(n)
    guard let s = String(validating: bytes[r], as: UTF8.self) else {
      throw PersistenceError("invalid UTF-8 in a string at offset \(r.lowerBound)")
    }
    return s
  }

  mutating func array<T: BitwiseCopyable>(_: T.Type) throws(PersistenceError) -> [T] {
    let count = try u64()
    let stride = MemoryLayout<T>.stride
    guard count <= UInt64(bytes.count / max(stride, 1)) else {
      throw PersistenceError("array of \(count) elements cannot fit in \(bytes.count) bytes")
    }
    let r = try take(Int(count) * stride)
    return [T](unsafeUninitializedCapacity: Int(count)) { out, initialized in
      bytes.withUnsafeBytes { src in
        UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[r]))
      }
      initialized = Int(count)
    }
  }
}
